//! The evidence list of an item, kept as small as the `Vec` it replaces
//! and without its allocation: recognition writes one per item of every
//! snapshot, and an allocation (and its free when the snapshot goes) was
//! a tenth of recognition's work.
//!
//! What recognition writes (at most one entry per attribute, every rule one
//! of this build's table) is packed inline, 16 bits an entry in one word
//! (pushed with a shift and an or: recognition's result is copied on its
//! way into the item, and a copy that read back entries written a byte at
//! a time missed store forwarding); anything else
//! (a rule name this build does not know, from a JSON client or another
//! build's shared tier, or more than four entries) is kept as a list.

use std::borrow::Cow;
use std::collections::HashMap;
use std::fmt;
use std::sync::LazyLock;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::rules::{ARCHES, EDITIONS, FAMILIES};
use super::{Attribute, Evidence, SourceField};

/// How a version was read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum VersionRule {
    AfterFamily,
    Glued,
    Codename,
    WindowsBuild,
    Tag,
    ReleaseFile,
}

/// The rule names of version evidence, by [`VersionRule`].
const VERSION_RULES: [&str; 6] = [
    "after_family",
    "glued",
    "codename",
    "windows_build",
    "tag",
    "release_file",
];

/// One rule of this build's table by index: the family patterns, then the
/// arch patterns, the edition patterns and the version readings. A decoder
/// that meets the same rule names again and again (the shared tier's)
/// resolves each once with [`RuleId::of`] and pushes with
/// [`EvidenceList::push_rule`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RuleId(u16);

impl RuleId {
    pub(crate) fn family(i: usize) -> Self {
        Self::at(i)
    }
    pub(crate) fn arch(i: usize) -> Self {
        Self::at(FAMILIES.len() + i)
    }
    pub(crate) fn edition(i: usize) -> Self {
        Self::at(FAMILIES.len() + ARCHES.len() + i)
    }
    pub(crate) fn version(rule: VersionRule) -> Self {
        Self::at(FAMILIES.len() + ARCHES.len() + EDITIONS.len() + rule as usize)
    }
    fn at(i: usize) -> Self {
        RuleId(u16::try_from(i).expect("a small rule table"))
    }

    /// The rule's name, as evidence shows it.
    pub fn name(self) -> &'static str {
        let mut i = usize::from(self.0);
        if let Some(r) = FAMILIES.get(i) {
            return r.pattern;
        }
        i -= FAMILIES.len();
        if let Some((p, _)) = ARCHES.get(i) {
            return p;
        }
        i -= ARCHES.len();
        if let Some((p, _)) = EDITIONS.get(i) {
            return p;
        }
        VERSION_RULES
            .get(i - EDITIONS.len())
            .copied()
            .unwrap_or_default()
    }

    /// The id of a rule named `name`, when this build has one.
    pub fn of(name: &str) -> Option<Self> {
        static BY_NAME: LazyLock<HashMap<&'static str, RuleId>> = LazyLock::new(|| {
            let n = FAMILIES.len() + ARCHES.len() + EDITIONS.len() + VERSION_RULES.len();
            // Several rows may share a name; any of them reads back the same.
            (0..n)
                .map(|i| (RuleId::at(i).name(), RuleId::at(i)))
                .collect()
        });
        BY_NAME.get(name).copied()
    }
}

/// An entry packed: attribute (2 bits) and field (3 bits) above the rule
/// (the low [`RULE_BITS`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Packed(u16);

/// Bits of a packed entry that hold its rule.
const RULE_BITS: u32 = 11;
const _: () = assert!(
    FAMILIES.len() + ARCHES.len() + EDITIONS.len() + VERSION_RULES.len() < 1 << RULE_BITS,
    "every rule fits a packed entry"
);

const ATTRIBUTES: [Attribute; 4] = [
    Attribute::Family,
    Attribute::Version,
    Attribute::Arch,
    Attribute::Edition,
];
const FIELDS: [SourceField; 6] = [
    SourceField::Name,
    SourceField::Path,
    SourceField::LabelFamily,
    SourceField::LabelTag,
    SourceField::Description,
    SourceField::OsName,
];

impl Packed {
    fn new(attribute: Attribute, field: SourceField, rule: RuleId) -> Self {
        let what = attribute as u16 | (field as u16) << 2;
        Packed(what << RULE_BITS | rule.0)
    }
    fn attribute(self) -> Attribute {
        ATTRIBUTES[usize::from(self.0 >> RULE_BITS & 3)]
    }
    fn field(self) -> SourceField {
        FIELDS[usize::from(self.0 >> (RULE_BITS + 2))]
    }
    fn rule(self) -> &'static str {
        RuleId(self.0 & ((1 << RULE_BITS) - 1)).name()
    }
    fn evidence(self) -> Evidence {
        Evidence {
            attribute: self.attribute(),
            field: self.field(),
            rule: Cow::Borrowed(self.rule()),
        }
    }
}

/// The most entries kept inline: one per attribute (16 bits each fill a word).
const INLINE: usize = 4;

/// Entry `k` of a packed list's bits.
fn packed(bits: u64, k: usize) -> Packed {
    // Four entries of 16 bits: the cast keeps exactly entry `k`.
    Packed((bits >> (16 * k)) as u16)
}

#[derive(Clone)]
enum Repr {
    /// Entry `k` in bits `16 * k..16 * (k + 1)`.
    Packed {
        len: u8,
        bits: u64,
    },
    List(Vec<Evidence>),
}

/// Why an item's `os.family`, `os.version`, `arch` and `edition` have their
/// values: a list of [`Evidence`], serialised as a JSON array of
/// `{attribute, field, rule}` objects.
#[derive(Clone)]
pub struct EvidenceList(Repr);

impl Default for EvidenceList {
    fn default() -> Self {
        EvidenceList(Repr::Packed { len: 0, bits: 0 })
    }
}

impl EvidenceList {
    /// An empty list.
    pub fn new() -> Self {
        Self::default()
    }

    /// The number of entries.
    pub fn len(&self) -> usize {
        match &self.0 {
            Repr::Packed { len, .. } => usize::from(*len),
            Repr::List(v) => v.len(),
        }
    }

    /// Whether there is none.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Entry `i`.
    pub fn get(&self, i: usize) -> Option<Evidence> {
        match &self.0 {
            Repr::Packed { len, bits } => {
                (i < usize::from(*len)).then(|| packed(*bits, i).evidence())
            }
            Repr::List(v) => v.get(i).cloned(),
        }
    }

    /// The entries, in order.
    pub fn iter(&self) -> Iter<'_> {
        Iter { list: self, at: 0 }
    }

    /// The entries as `(attribute, field, rule)`, the rule borrowed from
    /// the list (or the rule table): no copy of a rule name.
    pub fn entries(&self) -> impl Iterator<Item = (Attribute, SourceField, &str)> + '_ {
        let ((len, bits), list) = match &self.0 {
            Repr::Packed { len, bits } => ((usize::from(*len), *bits), &[][..]),
            Repr::List(v) => ((0, 0), &v[..]),
        };
        (0..len)
            .map(move |k| packed(bits, k))
            .map(|p| (p.attribute(), p.field(), p.rule()))
            .chain(list.iter().map(|e| (e.attribute, e.field, e.rule.as_ref())))
    }

    /// Appends an entry.
    pub fn push(&mut self, e: Evidence) {
        if let Repr::Packed { len, bits } = &mut self.0
            && usize::from(*len) < INLINE
            && let Some(rule) = RuleId::of(&e.rule)
        {
            *bits |= u64::from(Packed::new(e.attribute, e.field, rule).0) << (16 * *len);
            *len += 1;
            return;
        }
        self.listed().push(e);
    }

    /// Appends an entry of this build's table (recognition's path: no lookup).
    #[inline]
    pub fn push_rule(&mut self, attribute: Attribute, field: SourceField, rule: RuleId) {
        if let Repr::Packed { len, bits } = &mut self.0
            && usize::from(*len) < INLINE
        {
            *bits |= u64::from(Packed::new(attribute, field, rule).0) << (16 * *len);
            *len += 1;
            return;
        }
        self.push_listed(attribute, field, rule);
    }

    #[cold]
    fn push_listed(&mut self, attribute: Attribute, field: SourceField, rule: RuleId) {
        self.listed().push(Evidence {
            attribute,
            field,
            rule: Cow::Borrowed(rule.name()),
        });
    }

    fn listed(&mut self) -> &mut Vec<Evidence> {
        if let Repr::Packed { .. } = self.0 {
            let v: Vec<Evidence> = self.iter().collect();
            self.0 = Repr::List(v);
        }
        match &mut self.0 {
            Repr::List(v) => v,
            Repr::Packed { .. } => unreachable!("just made a list"),
        }
    }
}

/// The entries of an [`EvidenceList`].
#[derive(Debug)]
pub struct Iter<'a> {
    list: &'a EvidenceList,
    at: usize,
}

impl Iterator for Iter<'_> {
    type Item = Evidence;
    fn next(&mut self) -> Option<Evidence> {
        let e = self.list.get(self.at)?;
        self.at += 1;
        Some(e)
    }
    fn size_hint(&self) -> (usize, Option<usize>) {
        let n = self.list.len().saturating_sub(self.at);
        (n, Some(n))
    }
}

impl ExactSizeIterator for Iter<'_> {}

impl<'a> IntoIterator for &'a EvidenceList {
    type Item = Evidence;
    type IntoIter = Iter<'a>;
    fn into_iter(self) -> Iter<'a> {
        self.iter()
    }
}

impl FromIterator<Evidence> for EvidenceList {
    fn from_iter<I: IntoIterator<Item = Evidence>>(iter: I) -> Self {
        let mut out = EvidenceList::new();
        for e in iter {
            out.push(e);
        }
        out
    }
}

impl From<Vec<Evidence>> for EvidenceList {
    fn from(v: Vec<Evidence>) -> Self {
        v.into_iter().collect()
    }
}

impl PartialEq for EvidenceList {
    /// Equal when the entries are: how they are kept does not matter.
    fn eq(&self, other: &Self) -> bool {
        self.len() == other.len() && self.entries().eq(other.entries())
    }
}

impl Eq for EvidenceList {}

impl fmt::Debug for EvidenceList {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

impl Serialize for EvidenceList {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(self.iter())
    }
}

impl<'de> Deserialize<'de> for EvidenceList {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Vec::<Evidence>::deserialize(d).map(Into::into)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(attribute: Attribute, field: SourceField, rule: &str) -> Evidence {
        Evidence {
            attribute,
            field,
            rule: Cow::Owned(rule.to_owned()),
        }
    }

    #[test]
    fn it_is_no_bigger_than_the_vec_it_replaces() {
        assert_eq!(
            std::mem::size_of::<Option<EvidenceList>>(),
            std::mem::size_of::<Option<Vec<Evidence>>>()
        );
    }

    #[test]
    fn every_rule_reads_back_by_its_name() {
        let n = FAMILIES.len() + ARCHES.len() + EDITIONS.len() + VERSION_RULES.len();
        for i in 0..n {
            let name = RuleId::at(i).name();
            assert!(!name.is_empty(), "rule {i}");
            assert_eq!(RuleId::of(name).map(RuleId::name), Some(name));
        }
        assert_eq!(
            RuleId::version(VersionRule::ReleaseFile).name(),
            "release_file"
        );
        for (i, f) in FIELDS.iter().enumerate() {
            assert_eq!(*f as usize, i);
        }
        for (i, a) in ATTRIBUTES.iter().enumerate() {
            assert_eq!(*a as usize, i);
        }
    }

    #[test]
    fn known_rules_pack_and_unknown_ones_or_a_fifth_entry_are_kept_as_a_list() {
        let known = vec![
            ev(Attribute::Family, SourceField::Path, "centos stream"),
            ev(Attribute::Version, SourceField::LabelTag, "tag"),
            ev(Attribute::Arch, SourceField::OsName, "x86 64"),
        ];
        let l = EvidenceList::from(known.clone());
        assert!(matches!(l.0, Repr::Packed { len: 3, .. }));
        assert_eq!(l.iter().collect::<Vec<_>>(), known);

        let mut odd = known.clone();
        odd.push(ev(
            Attribute::Edition,
            SourceField::Description,
            "a rule of a later build",
        ));
        odd.push(ev(Attribute::Edition, SourceField::Name, "dvd"));
        let l = EvidenceList::from(odd.clone());
        assert!(matches!(l.0, Repr::List(_)));
        assert_eq!(l.iter().collect::<Vec<_>>(), odd);
        assert_eq!(l.len(), 5);
        assert_eq!(
            l.get(3).map(|e| e.rule),
            Some(Cow::Borrowed("a rule of a later build"))
        );

        // Equality is by entries, whatever the keeping.
        let mut a = EvidenceList::new();
        a.push_rule(
            Attribute::Arch,
            SourceField::Name,
            RuleId::of("x86 64").unwrap(),
        );
        let b = EvidenceList(Repr::List(vec![ev(
            Attribute::Arch,
            SourceField::Name,
            "x86 64",
        )]));
        assert_eq!(a, b);
        assert_ne!(a, EvidenceList::new());
    }

    #[test]
    fn the_json_is_an_array_of_attribute_field_rule_either_way() {
        let json = serde_json::json!([
            {"attribute": "family", "field": "name.path", "rule": "rocky"},
            {"attribute": "version", "field": "labels.tag", "rule": "not a rule here"},
        ]);
        let l: EvidenceList = serde_json::from_value(json.clone()).unwrap();
        assert_eq!(serde_json::to_value(&l).unwrap(), json);
        let packed: EvidenceList = serde_json::from_value(serde_json::json!([
            {"attribute": "arch", "field": "os.name", "rule": "x86 64"}
        ]))
        .unwrap();
        assert!(matches!(packed.0, Repr::Packed { len: 1, .. }));
        assert_eq!(
            serde_json::to_string(&packed).unwrap(),
            r#"[{"attribute":"arch","field":"os.name","rule":"x86 64"}]"#
        );
    }
}
