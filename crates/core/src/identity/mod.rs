//! Cross-provider identity: which OS, version, architecture and edition an
//! item is, recognised from its name (file name or VSS path), labels (Cox's
//! `family`/`tag`), description and upstream OS type name.
//!
//! The rules are data ([`rules`]); this module only tokenises and matches.
//! Nothing is guessed: a field no rule supports stays `None`.

mod evidence;
mod group;
mod memo;
mod query;
mod rules;

use std::borrow::Cow;
use std::cell::{OnceCell, RefCell};
use std::collections::BTreeMap;
use std::num::NonZeroU16;
use std::sync::LazyLock;

use serde::{Deserialize, Serialize};

use evidence::VersionRule;
pub use evidence::{EvidenceList, Iter as EvidenceIter, RuleId};
pub use group::{
    Cell, Coverage, CoverageRow, GroupField, GroupItem, GroupValue, IdentityKey, ImageGroup,
    coverage, coverage_csv, group, value_of,
};
pub use query::{GroupPage, GroupQuery};
use rules::{
    ARCHES, EDITIONS, FAMILIES, RELEASE_FILES, Shape, VERSION_SUFFIXES, VETOES, WINDOWS_BUILDS,
};

use crate::{Iso, ShortStr};

/// Which recognised attribute a piece of evidence supports.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Attribute {
    /// `os.family`
    Family,
    /// `os.version`
    Version,
    /// `arch`
    Arch,
    /// `edition`
    Edition,
}

/// The item field a rule matched in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum SourceField {
    /// The last path segment of `name` (the file name).
    #[serde(rename = "name")]
    Name,
    /// The folders of `name` (a VSS path's `Linux/Rocky/`).
    #[serde(rename = "name.path")]
    Path,
    /// `labels.family` (Cox).
    #[serde(rename = "labels.family")]
    LabelFamily,
    /// `labels.tag` (Cox).
    #[serde(rename = "labels.tag")]
    LabelTag,
    /// `description`
    #[serde(rename = "description")]
    Description,
    /// `os.name` (the upstream's OS type).
    #[serde(rename = "os.name")]
    OsName,
}

/// Why one attribute has its value: the field and the rule. (The text
/// matched is not kept: copying it cost more than the recognition itself.)
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Evidence {
    /// The attribute.
    pub attribute: Attribute,
    /// Where it was found.
    pub field: SourceField,
    /// The rule: a pattern of the rule table (`centos stream`, `x86 64`), or
    /// for versions how it was read (`after_family`, `glued`, `codename`,
    /// `windows_build`, `tag`, `release_file`).
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub rule: Cow<'static, str>,
}

/// What [`identify`] found.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Identity {
    /// `os.family`
    pub family: Option<&'static str>,
    /// `os.version`
    pub version: Option<ShortStr>,
    /// `arch`
    pub arch: Option<&'static str>,
    /// `edition`
    pub edition: Option<&'static str>,
    /// The evidence for each of the above that is set.
    pub evidence: EvidenceList,
}

/// Sets `os.family`, `os.version`, `arch`, `edition` and `identity_evidence`
/// from the item's other fields. Idempotent: it reads none of the fields it sets.
pub fn recognise(item: &mut Iso) {
    let id = identify(item);
    apply(item, id);
}

/// [`recognise`] on every item, with each text that repeats across them
/// (a description, an OS type name, a folder, a label value) scanned once.
/// The same result as calling [`recognise`] on each.
pub fn recognise_all(items: &mut [Iso]) {
    let memo = RefCell::new(memo::Memo::default());
    for i in 0..items.len() {
        // Two stages: the fields holding the texts' addresses first, then,
        // once they have arrived, the texts.
        if let Some(ahead) = items.get(i + 2 * PREFETCH_AHEAD) {
            prefetch(&ahead.name);
            prefetch(&ahead.labels);
            prefetch(&ahead.description);
        }
        if let Some(ahead) = items.get(i + PREFETCH_AHEAD) {
            prefetch_texts(ahead);
        }
        let id = identify_in(&items[i], Some(&memo));
        apply(&mut items[i], id);
    }
}

/// How many items ahead [`recognise_all`] asks for an item's texts: about
/// a memory latency's worth of recognition.
const PREFETCH_AHEAD: usize = 4;

/// Asks the cache for the texts recognising `item` reads first: its name,
/// its labels and its description. A freshly decoded listing is far larger
/// than the cache, and a decoder's strings lie between its other
/// allocations (Cox's and CloudMC's raw JSON), so each is a miss the
/// hardware does not see coming; the items themselves are in one array,
/// which it does.
#[inline(always)]
fn prefetch_texts(item: &Iso) {
    // Both ends: the prefix is stripped from the front, the file name
    // found from the back.
    if let (Some(first), Some(last)) = (item.name.as_bytes().first(), item.name.as_bytes().last()) {
        prefetch(first);
        prefetch(last);
    }
    // A lookup compares every key of a few: each pair's line.
    for pair in item.labels.pairs().iter().take(4) {
        prefetch(pair);
    }
    if let Some(b) = item
        .description
        .as_deref()
        .and_then(|d| d.as_bytes().first())
    {
        prefetch(b);
    }
}

#[cfg(target_arch = "x86_64")]
#[inline(always)]
fn prefetch<T>(r: &T) {
    safe_arch::prefetch_t0(r);
}

/// Elsewhere a prefetch is only a hint not taken.
#[cfg(not(target_arch = "x86_64"))]
#[inline(always)]
fn prefetch<T>(_: &T) {}

fn apply(item: &mut Iso, id: Identity) {
    if id.family.is_some() || id.version.is_some() {
        let os = item.os.get_or_insert_with(Default::default);
        os.family = id.family.map(Cow::Borrowed);
        os.version = id.version;
    } else if let Some(os) = item.os.as_mut() {
        os.family = None;
        os.version = None;
    }
    item.arch = id.arch.map(Cow::Borrowed);
    item.edition = id.edition.map(Cow::Borrowed);
    item.identity_evidence = (!id.evidence.is_empty()).then_some(id.evidence);
}

/// The identity of `item`, without changing it.
pub fn identify(item: &Iso) -> Identity {
    identify_in(item, None)
}

fn identify_in(item: &Iso, memo: Option<&RefCell<memo::Memo>>) -> Identity {
    identify_with(item, memo, true)
}

/// [`identify_in`], with the shortcut of [`all_in_name`] or (to test that
/// it changes nothing) without.
fn identify_with(item: &Iso, memo: Option<&RefCell<memo::Memo>>, shortcut: bool) -> Identity {
    // Any field but the name (which is unique to an item) may repeat.
    let found_in = |t: &str| match memo {
        Some(m) => m.borrow_mut().found(t),
        None => Found::of(t),
    };
    let (path, base) = split_name(&item.name);
    // Fields are read and scanned only when an attribute is still missing:
    // most names say everything. Not reading the others is most of the
    // saving: a label lookup reads keys that live elsewhere in memory, each
    // a likely cache miss on a cold listing, and descriptions are long.
    // The name is always read, so it is built in place.
    let text = |k: usize| -> Option<(SourceField, &str)> {
        let (field, text) = match k {
            1 => (SourceField::LabelFamily, item.labels.get("family")),
            2 => (SourceField::Description, item.description.as_deref()),
            3 => (
                SourceField::OsName,
                item.os.as_ref().and_then(|o| o.name.as_deref()),
            ),
            _ => (SourceField::Path, Some(path)),
        };
        text.filter(|t| !t.is_empty()).map(|t| (field, t))
    };
    let name = Scan::new(base);
    let mut named = name.found();
    if shortcut {
        match all_in_name(named) {
            Ok(id) => return id,
            Err(found) => named = found,
        }
    }
    let cells: [OnceCell<Option<(SourceField, Found)>>; 4] = Default::default();
    let get = |k: usize| match k.checked_sub(1) {
        None => Some((SourceField::Name, &named)),
        Some(c) => cells[c]
            .get_or_init(|| text(k).map(|(f, t)| (f, found_in(t))))
            .as_ref()
            .map(|(f, found)| (*f, found)),
    };
    // In order: name, labels.family, description, os.name, the name's folders.
    let fields = || (0..5).filter_map(|k| get(k).map(|(f, found)| (k, f, found)));
    let mut out = Identity::default();

    // Family: the first source naming one.
    let fam = fields().find_map(|(k, f, found)| found.family.map(|m| (k, f, m, found)));
    if let Some((k, field, m, found)) = fam {
        let rule = &FAMILIES[m.rule()];
        out.family = Some(rule.family);
        out.evidence
            .push_rule(Attribute::Family, field, RuleId::family(m.rule()));
        // Version: where the family was named, else wherever else the same family is.
        let read_in =
            |f: SourceField, found: &Found| found.version.clone().map(|(v, how)| (v, f, how));
        let version = read_in(field, found).or_else(|| {
            fields()
                .filter(|&(j, _, other)| {
                    j != k
                        && other
                            .family
                            .is_some_and(|o| FAMILIES[o.rule()].family == rule.family)
                })
                .find_map(|(_, f, other)| read_in(f, other))
        });
        let version = version.or_else(|| {
            let tag = item.labels.get("tag")?;
            let (v, _) = Scan::new(tag).version_from(0, rule.shape)?;
            Some((v, SourceField::LabelTag, VersionRule::Tag))
        });
        let version = version.or_else(|| {
            let (v, how) = name.release_file(rule.family)?;
            Some((v, SourceField::Name, how))
        });
        if let Some((v, f, how)) = version {
            out.version = Some(v);
            out.evidence
                .push_rule(Attribute::Version, f, RuleId::version(how));
        }
        // Edition: implied by the family pattern, else the first source with one.
        if let Some(e) = rule.edition {
            out.edition = Some(e);
            out.evidence
                .push_rule(Attribute::Edition, field, RuleId::family(m.rule()));
        } else if let Some((f, e)) = (0..3)
            // Not from os.name or the folders: those are never scanned for it.
            .filter_map(get)
            .find_map(|(f, found)| found.edition.map(|e| (f, e)))
        {
            out.edition = Some(EDITIONS[e.rule()].1);
            out.evidence
                .push_rule(Attribute::Edition, f, RuleId::edition(e.rule()));
        }
    }
    // Arch is a fact of the file even when the OS is not recognised.
    if let Some((f, a)) = fields().find_map(|(_, f, found)| found.arch.map(|a| (f, a))) {
        out.arch = Some(ARCHES[a.rule()].1);
        out.evidence
            .push_rule(Attribute::Arch, f, RuleId::arch(a.rule()));
    }
    out
}

/// The identity when the name says all of it (family, version, arch and
/// edition), as [`identify_in`] would find it there: most names do, and
/// then no other field is looked at. Otherwise `found` back.
fn all_in_name(found: Found) -> Result<Identity, Found> {
    let (Some(m), Some(a)) = (found.family, found.arch) else {
        return Err(found);
    };
    let rule = &FAMILIES[m.rule()];
    let edition = match (rule.edition, found.edition) {
        (Some(e), _) => (e, RuleId::family(m.rule())),
        (None, Some(e)) => (EDITIONS[e.rule()].1, RuleId::edition(e.rule())),
        (None, None) => return Err(found),
    };
    let Some((version, how)) = found.version else {
        return Err(found);
    };
    let mut evidence = EvidenceList::new();
    let name = SourceField::Name;
    // In identify_in's order: family, version, edition, arch.
    evidence.push_rule(Attribute::Family, name, RuleId::family(m.rule()));
    evidence.push_rule(Attribute::Version, name, RuleId::version(how));
    evidence.push_rule(Attribute::Edition, name, edition.1);
    evidence.push_rule(Attribute::Arch, name, RuleId::arch(a.rule()));
    Ok(Identity {
        family: Some(rule.family),
        version: Some(version),
        arch: Some(ARCHES[a.rule()].1),
        edition: Some(edition.0),
        evidence,
    })
}

/// What recognition takes from one field: a function of its text alone,
/// so a [`memo::Memo`] can hand it to another item with the same text.
/// Small, unlike the scan it comes from: a memo hit copies this, not the
/// scan's tokens.
#[derive(Clone, Default)]
struct Found {
    family: Option<Match>,
    /// The version of `family` read in the same text, and how.
    version: Option<(ShortStr, VersionRule)>,
    arch: Option<Match>,
    edition: Option<Match>,
}

impl Found {
    fn of(text: &str) -> Found {
        Scan::new(text).found()
    }
}

/// `(folders, file name)` of a name: a VSS `[datastore] ` prefix dropped,
/// split at the last `/` or `\`.
// Inlined: returned through memory, the pair was reloaded in halves that
// its stores could not forward (a stall per item).
#[inline(always)]
fn split_name(name: &str) -> (&str, &str) {
    let name = match name.strip_prefix('[').and_then(|r| r.split_once(']')) {
        Some((_, rest)) => rest.trim_start(),
        None => name,
    };
    match last_separator(name.as_bytes()) {
        Some(i) => (&name[..i], &name[i + 1..]),
        None => ("", name),
    }
}

/// The last `/` or `\\` of `b`, 8 bytes at a time from the end: the file
/// name is short, and two memrchr calls (or a byte loop) cost more.
fn last_separator(b: &[u8]) -> Option<usize> {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const LOW7: u64 = 0x7f7f_7f7f_7f7f_7f7f;
    // The high bit of each zero byte of `x`, exactly (no borrow between bytes).
    let zeros = |x: u64| !(((x & LOW7) + LOW7) | x | LOW7);
    let mut end = b.len();
    while let Some(w) = b[..end].last_chunk::<8>() {
        let w = u64::from_le_bytes(*w);
        let m = zeros(w ^ (ONES * u64::from(b'/'))) | zeros(w ^ (ONES * u64::from(b'\\')));
        if m != 0 {
            // Little-endian: the highest set bit is the last such byte.
            return Some(end - 8 + (63 - m.leading_zeros() as usize) / 8);
        }
        end -= 8;
    }
    b[..end].iter().rposition(|&c| c == b'/' || c == b'\\')
}

/// The most tokens of one field looked at (a long description says nothing more).
const MAX_TOKENS: usize = 40;
/// The most bytes of one field looked at (keeps offsets in `u16`).
const MAX_TEXT: usize = 4096;
/// Tokens longer than this match no rule (and are not lowercased).
const MAX_TOKEN_LEN: usize = 24;

#[derive(Clone, Copy, Debug, Default)]
struct Tok {
    start: u16,
    end: u16,
}

impl Tok {
    fn s(self) -> usize {
        usize::from(self.start)
    }
    fn e(self) -> usize {
        usize::from(self.end)
    }
}

/// A pattern matched at tokens `from..to`. Small (8 bytes, and so is an
/// `Option` of one, through the rule's niche): a scan keeps three and
/// builds one per candidate token. With a separate tag, reading one back
/// whole spanned two stores and missed store forwarding, a stall per token.
#[derive(Clone, Copy, Debug)]
struct Match {
    /// The rule's index plus one.
    rule: NonZeroU16,
    from: u8,
    to: u8,
    /// The digits glued onto the family token (`centos7`), as a byte
    /// range; `0..0` when none.
    glued: (u16, u16),
}

impl Match {
    fn new(rule: usize, from: usize, to: usize, glued: Option<(usize, usize)>) -> Self {
        // Rule indices are small, tokens at most MAX_TOKENS, offsets below MAX_TEXT.
        let n16 = |v: usize| u16::try_from(v).unwrap_or(u16::MAX);
        let n8 = |v: usize| u8::try_from(v).unwrap_or(u8::MAX);
        let (a, b) = glued.unwrap_or((0, 0));
        Match {
            rule: NonZeroU16::MIN.saturating_add(n16(rule)),
            from: n8(from),
            to: n8(to),
            glued: (n16(a), n16(b)),
        }
    }
    fn rule(self) -> usize {
        usize::from(self.rule.get() - 1)
    }
    fn from(self) -> usize {
        usize::from(self.from)
    }
    fn to(self) -> usize {
        usize::from(self.to)
    }
    fn glued(self) -> Option<(usize, usize)> {
        (self.glued.1 != 0).then(|| (usize::from(self.glued.0), usize::from(self.glued.1)))
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Family,
    Arch,
    Edition,
}

/// One row of the lexicon: a pattern's tokens after the first.
struct Entry {
    kind: Kind,
    rule: usize,
    rest: Vec<&'static str>,
    glued: bool,
    bare: bool,
}

/// A token by value: its bytes lowercased (bit 5, exact for ASCII letters
/// and digits, which is all a token holds) as three little-endian words,
/// zero past its end, and its length. Taken with a few word loads per
/// token, not a step per byte, and compared whole against the lexicon's.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Key {
    w: [u64; 3],
    len: usize,
}

impl Key {
    /// The key of `b[s..e]`; `None` when longer than any rule token.
    // Always inlined: returned through memory, the key's reload stalled.
    #[inline(always)]
    fn of(b: &[u8], s: usize, e: usize) -> Option<Key> {
        let len = e - s;
        if len > MAX_TOKEN_LEN {
            return None;
        }
        let mut w = [0; 3];
        w[0] = word(b, s, len.min(8));
        if len > 8 {
            w[1] = word(b, s + 8, (len - 8).min(8));
            if len > 16 {
                w[2] = word(b, s + 16, len - 16);
            }
        }
        Some(Key { w, len })
    }

    /// Whether the two are one token. Word by word, the first word first:
    /// a whole-array compare loaded the key back from the stack as 16-byte
    /// halves, which its 8-byte stores cannot forward (a stall per lookup).
    #[inline(always)]
    fn same(&self, other: &Key) -> bool {
        self.w[0] == other.w[0]
            && self.len == other.len
            && self.w[1] == other.w[1]
            && self.w[2] == other.w[2]
    }

    /// Multiply-shift: the high bits pick the slot.
    fn hash(&self) -> u64 {
        (self.w[0] ^ self.w[1].rotate_left(21) ^ self.w[2].rotate_left(42) ^ self.len as u64)
            .wrapping_mul(0x9e37_79b9_7f4a_7c15)
    }
}

/// Bytes `b[s..s + n]` (`1 <= n <= 8`) lowercased, as a little-endian word.
#[inline(always)]
fn word(b: &[u8], s: usize, n: usize) -> u64 {
    let raw = if let Some(c) = b.get(s..).and_then(|r| r.first_chunk::<8>()) {
        u64::from_le_bytes(*c)
    } else if let Some(c) = b.last_chunk::<8>() {
        // Near the end: the last 8 bytes, shifted so that byte `s` is first.
        u64::from_le_bytes(*c) >> (8 * (s + 8 - b.len()))
    } else {
        b[s..s + n]
            .iter()
            .rev()
            .fold(0, |w, &c| w << 8 | u64::from(c))
    };
    let mask = if n >= 8 { u64::MAX } else { (1 << (8 * n)) - 1 };
    (raw | 0x2020_2020_2020_2020) & mask
}

/// Whether token `t` is the rule token `key` (lowercase) in any case: bit 5
/// lowercases a token's letters and leaves its digits.
fn same_token(t: &[u8], key: &str) -> bool {
    t.len() == key.len() && t.iter().zip(key.as_bytes()).all(|(a, b)| a | 0x20 == *b)
}

/// Where a token's trailing digits start after its letters (`centos7`: 6):
/// the letters may be a glued family.
fn glued_cut(t: &[u8]) -> Option<usize> {
    t.last()
        .filter(|c| c.is_ascii_digit())
        .and_then(|_| t.iter().rposition(|c| !c.is_ascii_digit()))
        .map(|p| p + 1)
}

/// Bits `from..to` of a token mask (tokens past 63 have none).
fn token_bits(from: usize, to: usize) -> u64 {
    let below = |n: usize| if n >= 64 { u64::MAX } else { (1u64 << n) - 1 };
    below(to) & !below(from)
}

/// One first token of the rule table: its patterns and whether it is a veto.
#[derive(Clone, Copy, Default)]
struct Slot {
    key: Key,
    from: u16,
    len: u16,
    /// How many of its patterns (the first ones: longest first) have more
    /// tokens than this one.
    multi: u16,
    /// By [`Kind`], the rule of the first pattern that is this token alone
    /// (and matches bare), plus one; 0 when none. A scan takes these
    /// without walking the entries: most rule tokens are patterns alone.
    single: [u16; 3],
    veto: bool,
}

/// Every pattern of the rule table keyed by its first token, as an
/// open-addressing table on [`Key::hash`] (a lookup per token of every
/// item, where a general map's hashing and a lowercase copy would show).
struct Lexicon {
    /// Bit `32 * len + letter` is set when a key of that length starts with
    /// that letter (`a` is 0): [`Lexicon::may_hold`].
    filter: [u64; FILTER_WORDS],
    /// A power of two long, at most a quarter full; a zero-length key is a free slot.
    slots: Vec<Slot>,
    /// `64 - log2(slots.len())`.
    shift: u32,
    entries: Vec<Entry>,
}

/// Words of [`Lexicon::filter`]: 32 bits for each length up to MAX_TOKEN_LEN.
const FILTER_WORDS: usize = (32 * (MAX_TOKEN_LEN + 1)).div_ceil(64);

/// The filter bit of a token (a letter first) or key.
fn filter_bit(t: &[u8]) -> Option<usize> {
    let letter = usize::from((t[0] | 0x20).wrapping_sub(b'a'));
    (t.len() <= MAX_TOKEN_LEN && letter < 26).then_some(32 * t.len() + letter)
}

impl Lexicon {
    /// Whether some key has the length and first letter of token `t`
    /// (which starts with a letter): no means it is none of them.
    #[inline]
    fn may_hold(&self, t: &[u8]) -> bool {
        filter_bit(t).is_some_and(|b| self.filter[b / 64] & (1 << (b % 64)) != 0)
    }

    fn first_slot(&self, key: &Key) -> usize {
        // At most log2 of a small table's length bits: no truncation.
        (key.hash() >> self.shift) as usize
    }

    #[inline]
    fn get(&self, key: &Key) -> Option<&Slot> {
        let mask = self.slots.len() - 1;
        let mut i = self.first_slot(key);
        loop {
            let s = &self.slots[i];
            if s.key.len == 0 {
                return None;
            }
            if s.key.same(key) {
                return Some(s);
            }
            i = (i + 1) & mask;
        }
    }

    fn entries(&self, s: &Slot) -> &[Entry] {
        &self.entries[usize::from(s.from)..][..usize::from(s.len)]
    }

    /// The entries of `key`; empty when it is no rule token.
    fn find(&self, key: &Key) -> &[Entry] {
        self.get(key).map_or(&[], |s| self.entries(s))
    }
}

static LEXICON: LazyLock<Lexicon> = LazyLock::new(|| {
    let mut map: BTreeMap<&'static str, Vec<Entry>> = BTreeMap::new();
    let mut add = |kind, rule, pattern: &'static str, glued, bare| {
        let mut toks = pattern.split(' ');
        let first = toks.next().unwrap_or_default();
        map.entry(first).or_default().push(Entry {
            kind,
            rule,
            rest: toks.collect(),
            glued,
            bare,
        });
    };
    for (i, r) in FAMILIES.iter().enumerate() {
        add(Kind::Family, i, r.pattern, r.glued, r.bare);
    }
    for (i, (p, _)) in ARCHES.iter().enumerate() {
        add(Kind::Arch, i, p, false, true);
    }
    for (i, (p, _)) in EDITIONS.iter().enumerate() {
        add(Kind::Edition, i, p, false, true);
    }
    for v in VETOES {
        map.entry(v).or_default();
    }
    let size = (map.len() * 4).next_power_of_two();
    let mut lex = Lexicon {
        filter: [0; FILTER_WORDS],
        slots: vec![Slot::default(); size],
        shift: 64 - size.trailing_zeros(),
        entries: Vec::new(),
    };
    for (key, mut entries) in map {
        // `Scan::matches` skips tokens that start with a digit; `Key::of`
        // gives up on long ones.
        assert!(
            key.starts_with(|c: char| c.is_ascii_lowercase()) && key.len() <= MAX_TOKEN_LEN,
            "rule token {key:?}: lowercase, a letter first, at most {MAX_TOKEN_LEN} bytes"
        );
        // `Key` and `same_token` lowercase with bit 5: letters and digits only.
        let lower = |t: &str| {
            t.bytes()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
        };
        assert!(
            lower(key) && entries.iter().flat_map(|e| &e.rest).all(|t| lower(t)),
            "rule tokens of {key:?}: lowercase letters and digits only"
        );
        // Longest first, so the first pattern that fits at a position is the longest.
        entries.sort_by_key(|e| std::cmp::Reverse(e.rest.len()));
        let small = |n: usize| u16::try_from(n).expect("a small rule table");
        let mut single = [0; 3];
        for e in entries.iter().filter(|e| e.bare && e.rest.is_empty()) {
            let s = &mut single[e.kind as usize];
            if *s == 0 {
                *s = small(e.rule + 1);
            }
        }
        let slot = Slot {
            key: Key::of(key.as_bytes(), 0, key.len()).expect("checked above"),
            from: small(lex.entries.len()),
            len: small(entries.len()),
            multi: small(entries.iter().filter(|e| !e.rest.is_empty()).count()),
            single,
            veto: VETOES.contains(&key),
        };
        lex.entries.extend(entries);
        let bit = filter_bit(key.as_bytes()).expect("checked above");
        lex.filter[bit / 64] |= 1 << (bit % 64);
        let mut i = lex.first_slot(&slot.key);
        while lex.slots[i].key.len != 0 {
            i = (i + 1) & (size - 1);
        }
        lex.slots[i] = slot;
    }
    lex
});

/// ASCII letters and digits, the bytes of tokens (a table: the tokeniser
/// tests every byte of every field it reads).
static ALNUM: [bool; 256] = {
    let mut t = [false; 256];
    let mut c = 0;
    while c < 256 {
        t[c] = (c as u8).is_ascii_alphanumeric();
        c += 1;
    }
    t
};

/// One field, tokenised and matched once.
struct Scan<'a> {
    text: &'a str,
    m: Matched,
}

/// What a scan found in its text.
struct Matched {
    toks: [Tok; MAX_TOKENS],
    len: usize,
    family: Option<Match>,
    arch: Option<Match>,
    edition: Option<Match>,
    /// Tokens an arch pattern covers (the `64` of `x86_64` is no version).
    arch_mask: u64,
}

impl std::ops::Deref for Scan<'_> {
    type Target = Matched;
    fn deref(&self) -> &Matched {
        &self.m
    }
}

impl std::ops::DerefMut for Scan<'_> {
    fn deref_mut(&mut self) -> &mut Matched {
        &mut self.m
    }
}

impl<'a> Scan<'a> {
    #[inline(always)]
    fn new(text: &'a str) -> Self {
        let mut s = Scan {
            text,
            m: Matched {
                toks: [Tok::default(); MAX_TOKENS],
                len: 0,
                family: None,
                arch: None,
                edition: None,
                arch_mask: 0,
            },
        };
        let b = &text.as_bytes()[..text.len().min(MAX_TEXT)];
        let mut i = 0;
        while i < b.len() && s.len < MAX_TOKENS {
            if ALNUM[usize::from(b[i])] {
                let start = i;
                while i < b.len() && ALNUM[usize::from(b[i])] {
                    i += 1;
                }
                // Both fit: the loop stops at MAX_TEXT.
                let n = s.len;
                s.toks[n] = Tok {
                    start: u16::try_from(start).unwrap_or(u16::MAX),
                    end: u16::try_from(i).unwrap_or(u16::MAX),
                };
                s.len += 1;
            } else {
                i += 1;
            }
        }
        s.matches();
        s
    }

    fn tok(&self, i: usize) -> &'a str {
        &self.text[self.toks[i].s()..self.toks[i].e()]
    }

    /// Token `i`'s bytes (no char-boundary checks: tokens are ASCII).
    fn bytes(&self, i: usize) -> &'a [u8] {
        &self.text.as_bytes()[self.toks[i].s()..self.toks[i].e()]
    }

    /// Token `i`'s key; `None` when it is too long to be a rule token.
    #[inline(always)]
    fn key(&self, i: usize) -> Option<Key> {
        Key::of(self.text.as_bytes(), self.toks[i].s(), self.toks[i].e())
    }

    /// The byte between token `i - 1` and token `i` when exactly one separates them.
    fn sep_before(&self, i: usize) -> Option<u8> {
        let (prev, cur) = (self.toks[i - 1], self.toks[i]);
        (cur.s() == prev.e() + 1).then(|| self.text.as_bytes()[prev.e()])
    }

    fn matches(&mut self) {
        let lex = &*LEXICON;
        let mut edition_best: Option<Match> = None;
        let mut vetoed = false;
        for i in 0..self.len {
            let t = self.bytes(i);
            // No pattern, glued family or veto starts with a digit (checked
            // where the lexicon is built): version and build numbers, a
            // third of a name's tokens, need no lookup.
            if t[0].is_ascii_digit() {
                continue;
            }
            // Most tokens are no rule token: the filter tells most of them
            // by length and first letter, before a key is taken.
            let slot = if lex.may_hold(t) {
                self.key(i).and_then(|key| lex.get(&key))
            } else {
                None
            };
            let glued = self.family.is_none() && t[t.len() - 1].is_ascii_digit();
            if slot.is_none() && !glued {
                continue;
            }
            let mut found: [Option<Match>; 3] = [None; 3];
            if let Some(slot) = slot {
                vetoed |= slot.veto;
                // Longest first: a longer pattern that fits wins over the token alone.
                for e in &lex.entries(slot)[..usize::from(slot.multi)] {
                    let k = e.kind as usize;
                    if e.bare && found[k].is_none() && self.rest_fits(i, &e.rest) {
                        found[k] = Some(Match::new(e.rule, i, i + 1 + e.rest.len(), None));
                    }
                }
                for (f, &rule) in found.iter_mut().zip(&slot.single) {
                    if f.is_none() && rule != 0 {
                        *f = Some(Match::new(usize::from(rule - 1), i, i + 1, None));
                    }
                }
            }
            // Only the first family counts: once there is one, no glued form is looked up.
            if found[0].is_none()
                && glued
                && let Some(cut) = glued_cut(t)
            {
                found[0] = self.glued_family(i, cut);
            }
            if self.family.is_none() {
                self.family = found[0];
            }
            if let Some(a) = found[1]
                && self.arch.is_none()
            {
                self.arch = Some(a);
            }
            if let Some(a) = found[1] {
                self.arch_mask |= token_bits(a.from(), a.to());
            }
            if let Some(e) = found[2]
                && edition_best.is_none_or(|b| e.rule < b.rule)
            {
                edition_best = Some(e);
            }
        }
        if vetoed {
            self.family = None;
        }
        // An edition is not a word of the family's own pattern (`windows server`).
        self.edition =
            edition_best.filter(|e| self.family.is_none_or(|f| e.to <= f.from || e.from >= f.to));
        if let (Some(_), Some(f)) = (edition_best, self.family)
            && self.edition.is_none()
        {
            // The best one overlapped the family: take the best of the others.
            self.edition = self.best_edition_outside(f);
        }
    }

    fn best_edition_outside(&self, f: Match) -> Option<Match> {
        let lex = &*LEXICON;
        let mut best: Option<Match> = None;
        for i in (0..self.len).filter(|&i| i < f.from() || i >= f.to()) {
            let Some(key) = self.key(i) else {
                continue;
            };
            for e in lex.find(&key) {
                let to = i + 1 + e.rest.len();
                if e.kind == Kind::Edition
                    && self.rest_fits(i, &e.rest)
                    && (to <= f.from() || i >= f.to())
                    && best.is_none_or(|b| b.rule() > e.rule)
                {
                    best = Some(Match::new(e.rule, i, to, None));
                }
            }
        }
        best
    }

    fn rest_fits(&self, i: usize, rest: &[&str]) -> bool {
        i + rest.len() < self.len
            && rest
                .iter()
                .enumerate()
                .all(|(k, p)| same_token(self.bytes(i + 1 + k), p))
    }

    /// `centos7`, `win11`: a glued family token with the version digits
    /// after it, which start at byte `cut` of the token.
    fn glued_family(&self, i: usize, cut: usize) -> Option<Match> {
        let lex = &*LEXICON;
        let t = self.toks[i];
        if !lex.may_hold(&self.bytes(i)[..cut]) {
            return None;
        }
        let prefix = Key::of(self.text.as_bytes(), t.s(), t.s() + cut)?;
        let e = lex
            .find(&prefix)
            .iter()
            .find(|e| e.kind == Kind::Family && e.glued && e.rest.is_empty())?;
        Some(Match::new(e.rule, i, i + 1, Some((t.s() + cut, t.e()))))
    }

    fn found(&self) -> Found {
        Found {
            family: self.family,
            version: self.family.and_then(|m| self.version(m)),
            arch: self.arch,
            edition: self.edition,
        }
    }

    /// The version of the family matched at `m`, read in this field.
    fn version(&self, m: Match) -> Option<(ShortStr, VersionRule)> {
        let rule = &FAMILIES[m.rule()];
        if let Some(v) = rule.version {
            return Some((ShortStr::new(v), VersionRule::Codename));
        }
        if let Some((a, _)) = m.glued() {
            let b = self.toks[self.extend(m.from())].e();
            let v = &self.text[a..b];
            return fits(v, rule.shape).then(|| (ShortStr::new(v), VersionRule::Glued));
        }
        self.version_from(m.to(), rule.shape).or_else(|| {
            let family = rule.family;
            if !family.starts_with("windows") {
                return None;
            }
            (0..self.len).find_map(|i| {
                let t = self.tok(i);
                let (_, _, v) = WINDOWS_BUILDS
                    .iter()
                    .find(|(b, f, _)| *b == t && *f == family)?;
                Some((ShortStr::new(v), VersionRule::WindowsBuild))
            })
        })
    }

    /// `install75` read as `7.5` when `family` names its files so
    /// ([`RELEASE_FILES`]).
    fn release_file(&self, family: &str) -> Option<(ShortStr, VersionRule)> {
        let prefixes = RELEASE_FILES.iter().filter(|(f, _)| *f == family);
        prefixes
            .flat_map(|(_, p)| (0..self.len).map(move |i| (p, i)))
            .find_map(|(p, i)| {
                let t = self.bytes(i);
                let digits = t.get(p.len()..).filter(|d| d.len() == 2)?;
                (t[..p.len()].eq_ignore_ascii_case(p.as_bytes())
                    && digits.iter().all(u8::is_ascii_digit))
                .then(|| {
                    let d = &self.tok(i)[p.len()..];
                    let v = ShortStr::from_parts(&[&d[..1], ".", &d[1..]]);
                    (v, VersionRule::ReleaseFile)
                })
            })
    }

    /// The last token of the version starting at token `j`: dotted numbers
    /// and `-SP5`/`-U6`/`.update03` suffixes.
    fn extend(&self, j: usize) -> usize {
        let mut k = j;
        while k + 1 < self.len {
            let next = k + 1;
            let sep = self.sep_before(next);
            let nt = self.bytes(next);
            let dotted = sep == Some(b'.') && nt[0].is_ascii_digit();
            // Every suffix starts with `s` or `u` (checked first: most
            // next tokens are no suffix).
            let suffix = matches!(sep, Some(b'-' | b'.'))
                && matches!(nt[0] | 0x20, b's' | b'u')
                && VERSION_SUFFIXES.iter().any(|p| {
                    nt.len() > p.len()
                        && nt[..p.len()].eq_ignore_ascii_case(p.as_bytes())
                        && nt[p.len()].is_ascii_digit()
                });
            if !(dotted || suffix) {
                break;
            }
            k = next;
        }
        k
    }

    /// The first token run from token `from` on that reads as a version of `shape`.
    fn version_from(&self, from: usize, shape: Shape) -> Option<(ShortStr, VersionRule)> {
        if shape == Shape::Never {
            return None;
        }
        let mut j = from;
        while j < self.len {
            if j < 64 && self.arch_mask & (1 << j) != 0 {
                j += 1;
                continue;
            }
            let t = self.tok(j);
            let b = t.as_bytes();
            // Oracle's `R9-U4`.
            if b.len() >= 2
                && b[0].eq_ignore_ascii_case(&b'r')
                && b[1..].iter().all(u8::is_ascii_digit)
                && j + 1 < self.len
                && self.sep_before(j + 1) == Some(b'-')
            {
                let u = self.tok(j + 1).as_bytes();
                if u.len() >= 2
                    && u[0].eq_ignore_ascii_case(&b'u')
                    && u[1..].iter().all(u8::is_ascii_digit)
                {
                    let v = ShortStr::from_parts(&[&t[1..], ".", &self.tok(j + 1)[1..]]);
                    if fits(&v, shape) {
                        let ev = VersionRule::AfterFamily;
                        return Some((v, ev));
                    }
                }
            }
            let skip = usize::from(
                b.len() >= 2 && (b[0] == b'v' || b[0] == b'V') && b[1].is_ascii_digit(),
            );
            if b.get(skip).is_some_and(u8::is_ascii_digit) {
                let start = self.toks[j].s() + skip;
                let k = self.extend(j);
                let v = &self.text[start..self.toks[k].e()];
                // Only a version that fits is copied out (most candidates do not).
                if fits(v, shape) {
                    // Windows Server's `2012 R2`.
                    let r2 = shape == Shape::Year
                        && k + 1 < self.len
                        && self.tok(k + 1).eq_ignore_ascii_case("r2");
                    let v = if r2 {
                        ShortStr::from_parts(&[v, " R2"])
                    } else {
                        ShortStr::new(v)
                    };
                    let ev = VersionRule::AfterFamily;
                    return Some((v, ev));
                }
                j = k + 1;
                continue;
            }
            j += 1;
        }
        None
    }
}

/// Whether `v` is a version the way `shape` writes them.
fn fits(v: &str, shape: Shape) -> bool {
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|c| c.is_ascii_digit());
    // The lengths of the dotted parts (at most 4), when every part is digits.
    let dotted = |s: &str| -> Option<([usize; 4], usize)> {
        let mut lens = [0; 4];
        let mut n = 0;
        for c in s.bytes() {
            if c == b'.' {
                if lens[n] == 0 || n == 3 {
                    return None;
                }
                n += 1;
            } else if c.is_ascii_digit() {
                lens[n] += 1;
            } else {
                return None;
            }
        }
        (lens[n] > 0).then_some((lens, n + 1))
    };
    match shape {
        Shape::YearMonth => {
            matches!(dotted(v), Some((l, n)) if (2..=3).contains(&n) && l[0] == 2 && l[1] == 2)
        }
        Shape::Major => {
            let head = v.bytes().position(|c| c == b'-').map_or(v, |i| &v[..i]);
            matches!(dotted(head), Some((l, _)) if l[0] <= 2)
        }
        Shape::Year => {
            let y = v.strip_suffix(" R2").unwrap_or(v);
            y.len() == 4 && digits(y) && (y.starts_with("19") || y.starts_with("20"))
        }
        Shape::WinClient => matches!(v, "7" | "8" | "8.1" | "10" | "11"),
        Shape::Date => {
            matches!(dotted(v), Some((l, 3)) if l[0] == 4 && l[1] == 2 && l[2] == 2)
        }
        // A bare run of 6+ digits is a build id or a date stamp, not a release.
        Shape::Any => v.as_bytes()[0].is_ascii_digit() && !(v.len() >= 6 && digits(v)),
        Shape::Never => false,
    }
}

/// The rule table's own copy of a recognised `os.family`, `arch` or
/// `edition` value, when `s` is one: a decoder of stored items (the shared
/// tier's snapshots) borrows it as recognition does instead of allocating
/// per item. `None` for anything else (another build's new value).
pub fn static_value(s: &str) -> Option<&'static str> {
    static VALUES: LazyLock<std::collections::HashMap<&'static str, &'static str>> =
        LazyLock::new(|| {
            let families = FAMILIES.iter().map(|r| r.family);
            let arches = ARCHES.iter().map(|(_, a)| *a);
            let editions = EDITIONS.iter().map(|(_, e)| *e);
            let implied = FAMILIES.iter().filter_map(|r| r.edition);
            families
                .chain(arches)
                .chain(editions)
                .chain(implied)
                .map(|v| (v, v))
                .collect()
        });
    VALUES.get(s).copied()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{ItemKind, ProviderKind};

    fn id(name: &str) -> Identity {
        identify(&Iso::new("p", ProviderKind::Vss, ItemKind::Iso, "n", name))
    }

    #[test]
    fn reads_the_four_attributes_with_evidence() {
        let i = id("[vss-ISOs] Linux/Rocky/Rocky-9.4-x86_64-dvd.iso");
        assert_eq!(i.family, Some("rocky"));
        assert_eq!(i.version.as_deref(), Some("9.4"));
        assert_eq!(i.arch, Some("x86_64"));
        assert_eq!(i.edition, Some("dvd"));
        let arch = i
            .evidence
            .iter()
            .find(|e| e.attribute == Attribute::Arch)
            .unwrap();
        assert_eq!(
            (arch.field, arch.rule.as_ref()),
            (SourceField::Name, "x86 64")
        );
    }

    #[test]
    fn the_longest_pattern_wins_and_family_words_are_no_edition() {
        let i = id("en-us_windows_server_2022_x64_dvd_620d7eac.iso");
        assert_eq!(
            (i.family, i.version.as_deref(), i.edition),
            (Some("windows-server"), Some("2022"), Some("dvd"))
        );
        let i = id("Windows Server 2012 R2");
        assert_eq!(
            (i.family, i.version.as_deref(), i.edition),
            (Some("windows-server"), Some("2012 R2"), None)
        );
        assert_eq!(
            id("CentOS-Stream-9-latest-x86_64-dvd1.iso").family,
            Some("centos-stream")
        );
    }

    #[test]
    fn unknown_is_none_and_a_bad_version_is_no_version() {
        let i = id("virtio-win-0.1.240.iso");
        assert_eq!(i, Identity::default());
        let i = id("cox-edge/ubuntu:v20201110");
        assert_eq!((i.family, i.version), (Some("ubuntu"), None));
    }

    #[test]
    fn recognise_is_idempotent_and_clears_what_no_longer_holds() {
        let mut item = Iso::new(
            "p",
            ProviderKind::Vss,
            ItemKind::Iso,
            "n",
            "debian-12.7.0-amd64-netinst.iso",
        );
        recognise(&mut item);
        let once = item.clone();
        recognise(&mut item);
        assert_eq!(item, once);
        assert_eq!(item.os.as_ref().unwrap().family.as_deref(), Some("debian"));
        item.name = "my-custom-build.iso".into();
        recognise(&mut item);
        assert_eq!(item.os.as_ref().unwrap().family, None);
        assert_eq!(
            (
                item.arch.as_deref(),
                item.edition.as_deref(),
                item.identity_evidence.as_ref()
            ),
            (None, None, None)
        );
    }

    #[test]
    fn openbsd_release_files_give_the_version_once_the_family_is_known() {
        let i = id("[vss-ISOs] BSD/OpenBSD/install76.iso");
        assert_eq!(
            (i.family, i.version.as_deref()),
            (Some("openbsd"), Some("7.6"))
        );
        let ev = i
            .evidence
            .iter()
            .find(|e| e.attribute == Attribute::Version)
            .unwrap();
        assert_eq!(
            (ev.field, ev.rule.as_ref()),
            (SourceField::Name, "release_file")
        );
        // Alone it names no OS; another family's `cd12` is no version.
        assert_eq!(id("install76.iso"), Identity::default());
        assert_eq!(id("[vss-ISOs] Linux/Debian/cd12.iso").version, None);
    }

    #[test]
    fn the_last_separator_is_found_at_any_offset() {
        let naive = |b: &[u8]| b.iter().rposition(|&c| c == b'/' || c == b'\\');
        for n in 0..40 {
            for at in 0..n {
                for sep in [b'/', b'\\'] {
                    let mut b = vec![b'a'; n];
                    b[at] = sep;
                    assert_eq!(last_separator(&b), Some(at), "{n} {at}");
                    if at > 0 {
                        b[at - 1] = b'/';
                        assert_eq!(last_separator(&b), naive(&b));
                    }
                }
            }
            // Bytes next to the separators' values (and above 0x7f) are none.
            let b: Vec<u8> = (0..n)
                .map(|i| [b'.', b'0', b'[', b']', 0xaf, 0xdc][i % 6])
                .collect();
            assert_eq!(last_separator(&b), None);
        }
        assert_eq!(
            split_name("[vss-ISOs] Linux/Rocky/Rocky-9.4-x86_64-dvd.iso"),
            ("Linux/Rocky", "Rocky-9.4-x86_64-dvd.iso")
        );
        assert_eq!(split_name("a\\b/c\\d.iso"), ("a\\b/c", "d.iso"));
    }

    #[test]
    fn a_token_has_the_key_of_its_lowercase_text_wherever_it_stands() {
        let key = |t: &str| Key::of(t.as_bytes(), 0, t.len()).unwrap();
        for tok in [
            "x",
            "Rocky",
            "CentOS7",
            "x86",
            "WINDOWS",
            "vboxguestadditions",
            "abcdefgh",
            "AbCdEfGhI",
        ] {
            for pre in ["", "a-", "[vss-ISOs] Linux/"] {
                for post in ["", ".", "-x86_64-dvd.iso"] {
                    let text = format!("{pre}{tok}{post}");
                    let got = Key::of(text.as_bytes(), pre.len(), pre.len() + tok.len());
                    assert_eq!(got, Some(key(&tok.to_ascii_lowercase())), "{text:?}");
                }
            }
        }
        assert_ne!(key("rocky"), key("rock"));
        assert_ne!(key("abcdefgh"), key("abcdefghi"));
        assert_eq!(Key::of(&[b'a'; 30], 0, 25), None);
    }

    #[test]
    fn the_filter_holds_every_rule_token() {
        let lex = &*LEXICON;
        for s in lex.slots.iter().filter(|s| s.key.len != 0) {
            let key: Vec<u8> = s
                .key
                .w
                .iter()
                .flat_map(|w| w.to_le_bytes())
                .take(s.key.len)
                .collect();
            assert!(lex.may_hold(&key), "{:?}", String::from_utf8_lossy(&key));
            assert!(lex.may_hold(&key.to_ascii_uppercase()));
        }
        assert!(!lex.may_hold(b"qqqqqqqqqqqqqqqqqqqqqqqq"));
        assert!(
            !lex.may_hold(b"zzzzzzzzzzzzzzzzzzzzzzzzzzzzz"),
            "longer than any key"
        );
    }

    #[test]
    fn a_name_that_says_everything_is_read_as_without_the_shortcut() {
        let corpus = include_str!("../../tests/data/image_names.tsv");
        let names = corpus
            .lines()
            .filter(|l| !l.starts_with('#'))
            .filter_map(|l| l.split('\t').nth(1));
        let mut shortcuts = 0;
        for name in names {
            let item = Iso::new("p", ProviderKind::Vss, ItemKind::Iso, "n", name);
            let full = identify_with(&item, None, false);
            assert_eq!(identify_with(&item, None, true), full, "{name}");
            shortcuts += usize::from(all_in_name(Scan::new(split_name(name).1).found()).is_ok());
        }
        assert!(
            shortcuts > 100,
            "the corpus takes the shortcut: {shortcuts}"
        );
    }

    #[test]
    fn token_bits_are_the_tokens_of_a_range_below_64() {
        for from in 0..70 {
            for to in from..72 {
                let looped = (from..to.min(64)).fold(0u64, |m, k| m | 1 << k);
                assert_eq!(token_bits(from, to), looped, "{from}..{to}");
            }
        }
    }

    #[test]
    fn a_slot_s_singles_are_its_first_bare_one_token_patterns() {
        let lex = &*LEXICON;
        for s in lex.slots.iter().filter(|s| s.key.len != 0) {
            let entries = lex.entries(s);
            let multi = usize::from(s.multi);
            assert!(entries[..multi].iter().all(|e| !e.rest.is_empty()));
            assert!(entries[multi..].iter().all(|e| e.rest.is_empty()));
            for (k, kind) in [Kind::Family, Kind::Arch, Kind::Edition]
                .into_iter()
                .enumerate()
            {
                let first = entries
                    .iter()
                    .find(|e| e.kind == kind && e.bare && e.rest.is_empty())
                    .map_or(0, |e| e.rule + 1);
                assert_eq!(usize::from(s.single[k]), first);
            }
        }
    }

    #[test]
    fn an_optional_match_is_one_word() {
        assert_eq!(std::mem::size_of::<Option<Match>>(), 8);
        let m = Match::new(7, 1, 3, None);
        assert_eq!((m.rule(), m.from(), m.to(), m.glued()), (7, 1, 3, None));
    }

    #[test]
    fn version_suffixes_start_with_s_or_u() {
        // `Scan::extend` tests the first letter before comparing suffixes.
        assert!(VERSION_SUFFIXES.iter().all(|p| p.starts_with(['s', 'u'])));
    }

    #[test]
    fn shapes() {
        assert!(fits("24.04.1", Shape::YearMonth));
        assert!(!fits("20201110", Shape::YearMonth));
        assert!(fits("15-SP5", Shape::Major));
        assert!(!fits("2009", Shape::Major));
        assert!(fits("2012 R2", Shape::Year));
        assert!(!fits("20201110", Shape::Any));
        assert!(fits("8.0U2", Shape::Any));
        assert!(!fits("2024.9.1", Shape::Date));
        assert!(fits("12.7.0", Shape::Major));
        for bad in ["9.", ".9", "9..4", "1.2.3.4.5", "9.x"] {
            assert!(!fits(bad, Shape::Major), "{bad}");
        }
    }

    #[test]
    fn every_recognised_value_has_a_static_copy_and_nothing_else_does() {
        for name in [
            "[vss-ISOs] Linux/Rocky/Rocky-9.4-x86_64-dvd.iso",
            "en-us_windows_server_2022_x64_dvd_620d7eac.iso",
            "ubuntu-24.04.1-live-server-arm64.iso",
            "debian-12.7.0-i386-netinst.iso",
        ] {
            let i = id(name);
            for v in [i.family, i.arch, i.edition].into_iter().flatten() {
                // A decoder's copy, not the rule table's own string.
                let decoded = String::from(v);
                assert_eq!(static_value(&decoded), Some(v), "{name}: {v}");
            }
        }
        for other in ["Ubuntu", "zone1", "", "x86 64"] {
            assert_eq!(static_value(other), None, "{other}");
        }
    }
}
