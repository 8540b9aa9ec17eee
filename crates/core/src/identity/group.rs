//! One row per identity across providers, and the identities x providers
//! coverage matrix, for `/v1/images` and `/v1/images/coverage`.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use crate::Iso;

/// What makes two items "the same image": family, version, arch, edition.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct IdentityKey {
    /// `os.family`
    pub family: String,
    /// `os.version`
    pub version: Option<String>,
    /// `arch`
    pub arch: Option<String>,
    /// `edition`
    pub edition: Option<String>,
}

impl IdentityKey {
    /// The key of a recognised item; `None` when its family is unknown
    /// (an unrecognised item is the same as nothing).
    pub fn of(item: &Iso) -> Option<IdentityKey> {
        let os = item.os.as_ref()?;
        Some(IdentityKey {
            family: os.family.as_deref()?.to_owned(),
            version: os.version.as_deref().map(str::to_owned),
            arch: item.arch.as_deref().map(str::to_owned),
            edition: item.edition.as_deref().map(str::to_owned),
        })
    }
}

/// One item of a group.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct GroupItem {
    /// The global id.
    pub id: String,
    /// The provider instance.
    pub provider: String,
    /// Its size in bytes, if known.
    pub size_bytes: Option<u64>,
}

/// Every item of one identity, across providers.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ImageGroup {
    /// The identity.
    #[serde(flatten)]
    pub identity: IdentityKey,
    /// The providers that have it, sorted.
    pub providers: Vec<String>,
    /// Its items, by provider then id.
    pub items: Vec<GroupItem>,
    /// The distinct known sizes, ascending.
    pub sizes: Vec<u64>,
    /// False when two providers have it with different sets of known sizes
    /// (a different build); unknown sizes never make it false.
    pub consistent: bool,
}

impl ImageGroup {
    /// The size most providers have (ties: the smaller), if any is known.
    pub fn reference_size(&self) -> Option<u64> {
        let mut by_size: BTreeMap<u64, BTreeSet<&str>> = BTreeMap::new();
        for i in &self.items {
            if let Some(s) = i.size_bytes {
                by_size.entry(s).or_default().insert(&i.provider);
            }
        }
        by_size
            .iter()
            .max_by(|a, b| a.1.len().cmp(&b.1.len()).then(b.0.cmp(a.0)))
            .map(|(s, _)| *s)
    }
}

/// Groups recognised items by identity, sorted by identity; unrecognised
/// items (no `os.family`) are left out.
pub fn group<'a>(items: impl IntoIterator<Item = &'a Iso>) -> Vec<ImageGroup> {
    let mut groups: BTreeMap<IdentityKey, Vec<GroupItem>> = BTreeMap::new();
    for item in items {
        if let Some(key) = IdentityKey::of(item) {
            groups.entry(key).or_default().push(GroupItem {
                id: item.id.clone(),
                provider: item.provider.to_string(),
                size_bytes: item.size_bytes,
            });
        }
    }
    groups
        .into_iter()
        .map(|(identity, mut items)| {
            items.sort_by(|a, b| (&a.provider, &a.id).cmp(&(&b.provider, &b.id)));
            let providers: BTreeSet<&str> = items.iter().map(|i| i.provider.as_str()).collect();
            let sizes: BTreeSet<u64> = items.iter().filter_map(|i| i.size_bytes).collect();
            // Per provider, its known sizes: providers agree when those sets
            // are equal (two providers offering the same two files agree;
            // comparing item by item would call that a different build).
            let mut per_provider: BTreeMap<&str, BTreeSet<u64>> = BTreeMap::new();
            for i in &items {
                if let Some(s) = i.size_bytes {
                    per_provider.entry(&i.provider).or_default().insert(s);
                }
            }
            let mut known = per_provider.values();
            let first = known.next();
            let consistent = known.all(|s| Some(s) == first);
            ImageGroup {
                providers: providers.into_iter().map(str::to_owned).collect(),
                sizes: sizes.into_iter().collect(),
                consistent,
                items,
                identity,
            }
        })
        .collect()
}

/// One coverage cell.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Cell {
    /// The provider has it, with the reference size or no known size.
    Present,
    /// The provider does not have it.
    Absent,
    /// The provider has it, but none of its copies has the reference size.
    Different,
}

impl Cell {
    /// The snake_case name.
    pub fn as_str(self) -> &'static str {
        match self {
            Cell::Present => "present",
            Cell::Absent => "absent",
            Cell::Different => "different",
        }
    }
}

/// One identity's row of the coverage matrix.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CoverageRow {
    /// The identity.
    #[serde(flatten)]
    pub identity: IdentityKey,
    /// One cell per provider of [`Coverage::providers`], keyed by provider.
    pub cells: BTreeMap<String, Cell>,
}

/// Identities x providers.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Coverage {
    /// The columns, in the order asked for.
    pub providers: Vec<String>,
    /// One row per identity, in the groups' order.
    pub rows: Vec<CoverageRow>,
}

/// The coverage of `groups` over `providers` (the columns, in that order).
/// A provider's copy is `different` when a reference size (the one most
/// providers have) is known and none of its known sizes is it.
pub fn coverage(groups: &[ImageGroup], providers: &[String]) -> Coverage {
    let rows = groups
        .iter()
        .map(|g| {
            let reference = g.reference_size();
            let cells = providers
                .iter()
                .map(|p| {
                    let mine: Vec<Option<u64>> = g
                        .items
                        .iter()
                        .filter(|i| &i.provider == p)
                        .map(|i| i.size_bytes)
                        .collect();
                    let cell = if mine.is_empty() {
                        Cell::Absent
                    } else {
                        match reference {
                            Some(r)
                                if mine.iter().any(Option::is_some) && !mine.contains(&Some(r)) =>
                            {
                                Cell::Different
                            }
                            _ => Cell::Present,
                        }
                    };
                    (p.clone(), cell)
                })
                .collect();
            CoverageRow {
                identity: g.identity.clone(),
                cells,
            }
        })
        .collect();
    Coverage {
        providers: providers.to_vec(),
        rows,
    }
}

/// `coverage` as CSV (RFC 4180, CRLF line ends): a header
/// `family,version,arch,edition,<provider>...`, then one line per identity.
pub fn coverage_csv(coverage: &Coverage) -> String {
    fn field(out: &mut String, s: &str) {
        if s.contains([',', '"', '\r', '\n']) {
            out.push('"');
            out.push_str(&s.replace('"', "\"\""));
            out.push('"');
        } else {
            out.push_str(s);
        }
    }
    let mut out = String::new();
    let header = ["family", "version", "arch", "edition"]
        .into_iter()
        .chain(coverage.providers.iter().map(String::as_str));
    for (k, h) in header.enumerate() {
        if k > 0 {
            out.push(',');
        }
        field(&mut out, h);
    }
    out.push_str("\r\n");
    for row in &coverage.rows {
        let id = &row.identity;
        field(&mut out, &id.family);
        for v in [&id.version, &id.arch, &id.edition] {
            out.push(',');
            field(&mut out, v.as_deref().unwrap_or(""));
        }
        for p in &coverage.providers {
            out.push(',');
            out.push_str(row.cells.get(p).map_or("absent", |c| c.as_str()));
        }
        out.push_str("\r\n");
    }
    out
}

/// A field of an [`ImageGroup`] that the images query can filter and sort on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum GroupField {
    /// `family`
    Family,
    /// `version`
    Version,
    /// `arch`
    Arch,
    /// `edition`
    Edition,
    /// `provider`: matches when any of the group's providers matches.
    Provider,
    /// `providers`: how many providers have it.
    Providers,
    /// `items`: how many items it has.
    Items,
    /// `size_bytes`: the reference size (the one most providers have).
    SizeBytes,
    /// `consistent`
    Consistent,
}

/// A group field's value, as filters and sorts see it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum GroupValue<'a> {
    /// A text field (absent: `None`).
    Text(Option<&'a str>),
    /// Several texts (`provider`): a condition holds when it holds for one.
    Texts(Vec<&'a str>),
    /// A count or size (absent: `None`).
    Num(Option<u64>),
    /// A flag.
    Bool(bool),
}

impl GroupField {
    /// Every field name, as written in queries.
    pub const NAMES: [&'static str; 9] = [
        "family",
        "version",
        "arch",
        "edition",
        "provider",
        "providers",
        "items",
        "size_bytes",
        "consistent",
    ];

    /// Parses a field name; `None` if unknown.
    pub fn from_name(name: &str) -> Option<GroupField> {
        Some(match name {
            "family" => GroupField::Family,
            "version" => GroupField::Version,
            "arch" => GroupField::Arch,
            "edition" => GroupField::Edition,
            "provider" => GroupField::Provider,
            "providers" => GroupField::Providers,
            "items" => GroupField::Items,
            "size_bytes" => GroupField::SizeBytes,
            "consistent" => GroupField::Consistent,
            _ => return None,
        })
    }
}

/// The value of `field` in `group` (the groups' `value_of`).
pub fn value_of(group: &ImageGroup, field: GroupField) -> GroupValue<'_> {
    let id = &group.identity;
    match field {
        GroupField::Family => GroupValue::Text(Some(&id.family)),
        GroupField::Version => GroupValue::Text(id.version.as_deref()),
        GroupField::Arch => GroupValue::Text(id.arch.as_deref()),
        GroupField::Edition => GroupValue::Text(id.edition.as_deref()),
        GroupField::Provider => {
            GroupValue::Texts(group.providers.iter().map(String::as_str).collect())
        }
        GroupField::Providers => GroupValue::Num(Some(group.providers.len() as u64)),
        GroupField::Items => GroupValue::Num(Some(group.items.len() as u64)),
        GroupField::SizeBytes => GroupValue::Num(group.reference_size()),
        GroupField::Consistent => GroupValue::Bool(group.consistent),
    }
}
