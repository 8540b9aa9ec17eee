//! [`Labels`]: an item's upstream details without a field of their own.

use std::fmt;

use serde::de::{MapAccess, Visitor};
use serde::ser::SerializeMap;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::ShortStr;

/// String pairs in key order, each key once: the API of the
/// `BTreeMap<String, String>` it replaces, over one sorted vector of
/// [`ShortStr`]s.
///
/// Items carry none to half a dozen labels, and a cached catalogue holds
/// 100k items: a B-tree's first node is ~540 bytes whatever it holds, the
/// vector 48 bytes per label; keys and most values are short, so inline, not
/// one allocation each; a decoder's inserts come in key order (each one an
/// append). The JSON is the same object, keys sorted.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct Labels(Vec<(ShortStr, ShortStr)>);

impl Labels {
    /// The pairs, by reference (their addresses, for a prefetch: nothing
    /// of them is read).
    pub(crate) fn pairs(&self) -> &[(ShortStr, ShortStr)] {
        &self.0
    }

    /// No labels (allocates nothing).
    pub const fn new() -> Self {
        Labels(Vec::new())
    }

    /// The pairs as they are when their keys are in strictly increasing
    /// order (a decoder's, written from labels), told by comparing
    /// neighbours; else the pairs back.
    pub fn from_sorted(
        pairs: Vec<(ShortStr, ShortStr)>,
    ) -> Result<Self, Vec<(ShortStr, ShortStr)>> {
        if pairs
            .windows(2)
            .all(|w| w[0].0.as_bytes() < w[1].0.as_bytes())
        {
            Ok(Labels(pairs))
        } else {
            Err(pairs)
        }
    }

    /// No labels, with room for `n` without reallocating.
    pub fn with_capacity(n: usize) -> Self {
        Labels(Vec::with_capacity(n))
    }

    fn find(&self, key: &str) -> Result<usize, usize> {
        // Bytes order as the text does (UTF-8 sorts bytewise). In key
        // order, the last key is where in-order inserts land.
        let key = key.as_bytes();
        match self.0.last() {
            Some((last, _)) if last.as_bytes() < key => Err(self.0.len()),
            _ => self.0.binary_search_by(|(k, _)| k.as_bytes().cmp(key)),
        }
    }

    /// Where `key` is. Items carry a handful of labels, and recognition
    /// looks two up in every item: over a few, comparing lengths first
    /// beats a binary search's ordered comparisons.
    fn position(&self, key: &str) -> Option<usize> {
        if self.0.len() > 8 {
            return self.find(key).ok();
        }
        let key = key.as_bytes();
        self.0.iter().position(|(k, _)| k.as_bytes() == key)
    }

    /// The value of `key`.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.position(key).map(|i| self.0[i].1.as_str())
    }

    /// Whether `key` has a value.
    pub fn contains_key(&self, key: &str) -> bool {
        self.position(key).is_some()
    }

    /// Sets `key` to `value`, returning the value it replaced.
    pub fn insert(&mut self, key: String, value: String) -> Option<String> {
        self.set(key.into(), value.into()).map(String::from)
    }

    /// [`Labels::insert`] of borrowed text (copied inline when short).
    pub fn insert_str(&mut self, key: &str, value: &str) -> Option<ShortStr> {
        self.set(ShortStr::new(key), ShortStr::new(value))
    }

    /// [`Labels::insert`] of strings already made (a decoder's).
    pub fn set(&mut self, key: ShortStr, value: ShortStr) -> Option<ShortStr> {
        match self.find(&key) {
            Ok(i) => Some(std::mem::replace(&mut self.0[i].1, value)),
            Err(i) => {
                self.0.insert(i, (key, value));
                None
            }
        }
    }

    /// Removes `key`, returning its value.
    pub fn remove(&mut self, key: &str) -> Option<String> {
        self.find(key).ok().map(|i| self.0.remove(i).1.into())
    }

    /// How many labels.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The pairs in key order.
    pub fn iter(&self) -> impl DoubleEndedIterator<Item = (&str, &str)> + ExactSizeIterator {
        self.0.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    /// The keys in order.
    pub fn keys(&self) -> impl DoubleEndedIterator<Item = &str> + ExactSizeIterator {
        self.0.iter().map(|(k, _)| k.as_str())
    }

    /// The values in key order.
    pub fn values(&self) -> impl DoubleEndedIterator<Item = &str> + ExactSizeIterator {
        self.0.iter().map(|(_, v)| v.as_str())
    }
}

impl std::ops::Index<&str> for Labels {
    type Output = ShortStr;

    /// The value of `key`; panics when there is none, as a map's index does.
    fn index(&self, key: &str) -> &ShortStr {
        match self.find(key) {
            Ok(i) => &self.0[i].1,
            Err(_) => panic!("no label {key:?}"),
        }
    }
}

impl Extend<(String, String)> for Labels {
    fn extend<I: IntoIterator<Item = (String, String)>>(&mut self, pairs: I) {
        for (k, v) in pairs {
            self.insert(k, v);
        }
    }
}

impl FromIterator<(String, String)> for Labels {
    /// Later pairs win over earlier ones with the same key, as in a map.
    fn from_iter<I: IntoIterator<Item = (String, String)>>(pairs: I) -> Self {
        let mut l = Labels::new();
        l.extend(pairs);
        l
    }
}

impl<K: AsRef<str>, V: AsRef<str>, const N: usize> From<[(K, V); N]> for Labels {
    fn from(pairs: [(K, V); N]) -> Self {
        let mut l = Labels::with_capacity(N);
        for (k, v) in pairs {
            l.insert_str(k.as_ref(), v.as_ref());
        }
        l
    }
}

impl IntoIterator for Labels {
    type Item = (String, String);
    type IntoIter = std::iter::Map<
        std::vec::IntoIter<(ShortStr, ShortStr)>,
        fn((ShortStr, ShortStr)) -> (String, String),
    >;

    fn into_iter(self) -> Self::IntoIter {
        self.0.into_iter().map(|(k, v)| (k.into(), v.into()))
    }
}

impl<'a> IntoIterator for &'a Labels {
    type Item = (&'a str, &'a str);
    type IntoIter = std::iter::Map<
        std::slice::Iter<'a, (ShortStr, ShortStr)>,
        fn(&'a (ShortStr, ShortStr)) -> (&'a str, &'a str),
    >;

    fn into_iter(self) -> Self::IntoIter {
        self.0.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }
}

impl Serialize for Labels {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(Some(self.0.len()))?;
        for (k, v) in &self.0 {
            map.serialize_entry(k.as_str(), v.as_str())?;
        }
        map.end()
    }
}

impl<'de> Deserialize<'de> for Labels {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Pairs;
        impl<'de> Visitor<'de> for Pairs {
            type Value = Labels;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an object of string values")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Labels, A::Error> {
                let mut l = Labels::with_capacity(map.size_hint().unwrap_or(0).min(64));
                while let Some((k, v)) = map.next_entry::<ShortStr, ShortStr>()? {
                    l.set(k, v);
                }
                Ok(l)
            }
        }
        d.deserialize_map(Pairs)
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    #[test]
    fn from_sorted_takes_strictly_increasing_keys_only() {
        let pair = |k: &str, v: &str| (ShortStr::new(k), ShortStr::new(v));
        let sorted = vec![pair("a", "1"), pair("b", "2"), pair("ba", "3")];
        let l = Labels::from_sorted(sorted.clone()).expect("in order");
        assert_eq!(l.get("ba"), Some("3"));
        assert_eq!(l.len(), 3);
        for bad in [
            vec![pair("b", "1"), pair("a", "2")],
            vec![pair("a", "1"), pair("a", "2")],
        ] {
            assert_eq!(Labels::from_sorted(bad.clone()), Err(bad));
        }
        assert_eq!(Labels::from_sorted(Vec::new()), Ok(Labels::new()));
    }

    #[test]
    fn behaves_as_the_map_it_replaces() {
        let ops = [
            ("tag", "latest"),
            ("family", "ubuntu"),
            ("slug", "acme"),
            ("family", "debian"),
            ("a", "1"),
            ("z", "26"),
        ];
        let (mut l, mut m) = (Labels::new(), BTreeMap::new());
        for (k, v) in ops {
            assert_eq!(
                l.insert(k.into(), v.into()),
                m.insert(k.to_owned(), v.to_owned())
            );
        }
        let pairs = |m: &BTreeMap<String, String>| {
            m.iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect::<Vec<_>>()
        };
        assert_eq!(l.clone().into_iter().collect::<Vec<_>>(), pairs(&m));
        assert!(l.iter().map(|(k, _)| k).eq(m.keys().map(String::as_str)));
        assert_eq!(l.len(), m.len());
        assert_eq!(l.get("family"), Some("debian"));
        assert_eq!(l["slug"], "acme");
        assert_eq!(l.remove("slug"), m.remove("slug"));
        assert_eq!(l.remove("slug"), None);
        assert!(!l.contains_key("slug") && l.contains_key("a") && l.get("b").is_none());
        assert_eq!(
            serde_json::to_string(&l).unwrap(),
            serde_json::to_string(&m).unwrap()
        );
    }

    #[test]
    fn json_round_trips_sorted_and_later_keys_win() {
        let l: Labels = serde_json::from_str(r#"{"b":"2","a":"1","b":"3"}"#).unwrap();
        assert_eq!(serde_json::to_string(&l).unwrap(), r#"{"a":"1","b":"3"}"#);
        assert!(serde_json::from_str::<Labels>(r#"{"a":1}"#).is_err());
        assert!(serde_json::from_str::<Labels>(r#"["a"]"#).is_err());
        assert_eq!(Labels::from([("x", "1")]).into_iter().count(), 1);
        // Long values live on the heap, short ones inline: both read back.
        let long = "l".repeat(100);
        let l = Labels::from([("k", long.as_str()), ("a", "b")]);
        assert_eq!((l.get("k"), l.get("a")), (Some(long.as_str()), Some("b")));
        // Past a handful, lookups search in order: the same answers.
        let many: Labels = (0..20)
            .map(|i| (format!("k{i:02}"), i.to_string()))
            .collect();
        assert!((0..20).all(|i| many.get(&format!("k{i:02}")) == Some(i.to_string().as_str())));
        assert!(many.get("k20").is_none() && !many.contains_key("a"));
    }
}
