//! Case-insensitive text matching without allocation per item: `like`
//! patterns and the `q` substring search.
//!
//! "Case-insensitive" means characters are compared after the Unicode
//! *simple* lowercase mapping: a character whose lowercase form is a single
//! character is replaced by it; one whose lowercase form is several characters
//! (e.g. `İ`) is compared as it is. Both sides are folded the same way.

/// The simple lowercase of one character (see the module doc).
#[inline]
pub fn fold_char(c: char) -> char {
    if c.is_ascii() {
        return c.to_ascii_lowercase();
    }
    let mut lower = c.to_lowercase();
    match (lower.next(), lower.next()) {
        (Some(l), None) => l,
        _ => c,
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Token {
    /// One character (already folded).
    Char(char),
    /// `_`: exactly one character.
    One,
    /// `%`: any run of characters, the empty run included.
    Any,
}

/// A compiled `like` pattern: `%` matches any run of characters, `_` exactly
/// one character, everything else itself, case-insensitively. There is no
/// escape character, and no regular expression.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LikePattern {
    tokens: Vec<Token>,
}

impl LikePattern {
    /// Compiles `pattern` (folding it once, here, rather than per match).
    pub fn new(pattern: &str) -> Self {
        let mut tokens = Vec::with_capacity(pattern.len());
        for c in pattern.chars() {
            let t = match c {
                '%' => Token::Any,
                '_' => Token::One,
                c => Token::Char(fold_char(c)),
            };
            // `%%` is the same as `%`; collapsing keeps the matcher's work bounded.
            if !(t == Token::Any && tokens.last() == Some(&Token::Any)) {
                tokens.push(t);
            }
        }
        LikePattern { tokens }
    }

    /// Whether `text` matches the whole pattern.
    ///
    /// The classic greedy wildcard walk with one backtracking point (the last
    /// `%` seen): O(len(text) * len(pattern)) in the worst case, linear in the
    /// usual one, never exponential.
    pub fn matches(&self, text: &str) -> bool {
        let toks = &self.tokens;
        let mut p = 0; // index into toks
        let mut s = 0; // byte offset into text
        // (token after the last `%`, byte offset that `%` currently stops at)
        let mut star: Option<(usize, usize)> = None;
        while s < text.len() {
            let c = next_char(text, s);
            let step = c.len_utf8();
            match toks.get(p) {
                Some(Token::Any) => {
                    star = Some((p + 1, s));
                    p += 1;
                    continue;
                }
                Some(Token::One) => {
                    p += 1;
                    s += step;
                    continue;
                }
                Some(Token::Char(t)) if *t == fold_char(c) => {
                    p += 1;
                    s += step;
                    continue;
                }
                _ => {}
            }
            // Mismatch: let the last `%` swallow one more character.
            match star {
                Some((sp, ss)) => {
                    let ss = ss + next_char(text, ss).len_utf8();
                    star = Some((sp, ss));
                    p = sp;
                    s = ss;
                }
                None => return false,
            }
        }
        toks[p..].iter().all(|t| *t == Token::Any)
    }
}

#[inline]
fn next_char(text: &str, at: usize) -> char {
    // `at` is always a char boundary below text.len().
    text[at..].chars().next().unwrap_or('\0')
}

/// A compiled `q` needle: a case-insensitive substring search.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Needle {
    folded: Vec<char>,
    ascii: Option<Vec<u8>>,
}

impl Needle {
    /// Compiles `needle`.
    pub fn new(needle: &str) -> Self {
        let folded: Vec<char> = needle.chars().map(fold_char).collect();
        let ascii = needle
            .is_ascii()
            .then(|| needle.bytes().map(|b| b.to_ascii_lowercase()).collect());
        Needle { folded, ascii }
    }

    /// Whether `hay` contains the needle, case-insensitively.
    pub fn found_in(&self, hay: &str) -> bool {
        if self.folded.is_empty() {
            return true;
        }
        // Fast path: ASCII on both sides folds byte by byte. (Only when the
        // haystack is ASCII too: e.g. the Kelvin sign folds to an ASCII `k`.)
        if let Some(n) = &self.ascii
            && hay.is_ascii()
        {
            return hay
                .as_bytes()
                .windows(n.len())
                .any(|w| w.iter().zip(n).all(|(a, b)| a.to_ascii_lowercase() == *b));
        }
        let mut starts = hay.char_indices();
        loop {
            let rest = match starts.next() {
                Some((i, _)) => &hay[i..],
                None => return false,
            };
            let mut chars = rest.chars();
            if self
                .folded
                .iter()
                .all(|n| chars.next().is_some_and(|c| fold_char(c) == *n))
            {
                return true;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn like(p: &str, s: &str) -> bool {
        LikePattern::new(p).matches(s)
    }

    #[test]
    fn like_wildcards() {
        assert!(like("ubuntu%", "Ubuntu 22.04"));
        assert!(like("%22.04", "Ubuntu 22.04"));
        assert!(like("%buntu%", "UBUNTU"));
        assert!(like("u_untu", "ubuntu"));
        assert!(!like("u_untu", "uuntu"));
        assert!(!like("ubuntu", "ubuntu2"));
        assert!(like("%", ""));
        assert!(like("", ""));
        assert!(!like("_", ""));
        assert!(like("a%b%c", "aXXbYYc"));
        assert!(!like("a%b%c", "aXXcYYb"));
        assert!(like("%a%a%a%a%b", "aaaaaaaaaaaaaab"));
        assert!(!like("%a%a%a%a%b", &"a".repeat(5000)));
        assert!(like("é_", "ÉÀ"));
        assert!(like("%ß", "straß"));
    }

    #[test]
    fn needle_folds_case_both_ways() {
        assert!(Needle::new("BUN").found_in("ubuntu"));
        assert!(Needle::new("").found_in(""));
        assert!(!Needle::new("x").found_in(""));
        assert!(Needle::new("éa").found_in("CAFÉAU"));
        assert!(Needle::new("k").found_in("\u{212A}elvin"));
        assert!(!Needle::new("ubuntux").found_in("ubuntu"));
    }
}
