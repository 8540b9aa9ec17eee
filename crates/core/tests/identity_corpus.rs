//! Recognition over a corpus of real medium names (tests/data/image_names.tsv):
//! at least 98 % exactly right, and never a wrong family (unknown is allowed).

use isogate_core::identity::recognise;
use isogate_core::{Iso, ItemKind, ProviderKind};

struct Case {
    line: usize,
    item: Iso,
    expected: [Option<String>; 4],
}

fn dash(s: &str) -> Option<String> {
    (s != "-").then(|| s.to_owned())
}

fn corpus() -> Vec<Case> {
    let text = include_str!("data/image_names.tsv");
    text.lines()
        .enumerate()
        .filter(|(_, l)| !l.starts_with('#') && !l.trim().is_empty())
        .map(|(n, l)| {
            let c: Vec<&str> = l.split('\t').collect();
            assert_eq!(c.len(), 9, "line {}: 9 columns expected: {l}", n + 1);
            assert!(!c[8].is_empty(), "line {}: a source is required", n + 1);
            let kind = match c[0] {
                "cloudmc" => ProviderKind::Cloudmc,
                "cox" => ProviderKind::Cox,
                "action" => ProviderKind::Action,
                _ => ProviderKind::Vss,
            };
            let mut item = Iso::new(c[0], kind, ItemKind::Iso, &format!("n{n}"), c[1]);
            item.description = (!c[2].is_empty()).then(|| c[2].to_owned());
            for kv in c[3].split(',').filter(|s| !s.is_empty()) {
                let (k, v) = kv.split_once('=').expect("labels are k=v");
                item.labels.insert(k.into(), v.into());
            }
            Case {
                line: n + 1,
                item,
                expected: [dash(c[4]), dash(c[5]), dash(c[6]), dash(c[7])],
            }
        })
        .collect()
}

#[test]
fn the_corpus_is_recognised_exactly_and_never_wrongly() {
    let cases = corpus();
    assert!(cases.len() >= 300, "corpus has {} names", cases.len());
    let mut exact = 0;
    let mut wrong_family = Vec::new();
    for mut c in cases
        .iter()
        .map(|c| (c.line, c.item.clone(), c.expected.clone()))
    {
        recognise(&mut c.1);
        let os = c.1.os.as_ref();
        let got = [
            os.and_then(|o| o.family.as_deref().map(str::to_owned)),
            os.and_then(|o| o.version.as_deref().map(str::to_owned)),
            c.1.arch.as_deref().map(str::to_owned),
            c.1.edition.as_deref().map(str::to_owned),
        ];
        if got == c.2 {
            exact += 1;
        } else {
            println!(
                "miss line {}: {:?}\n  expected {:?}\n  got      {:?}",
                c.0, c.1.name, c.2, got
            );
            if got[0].is_some() && got[0] != c.2[0] {
                wrong_family.push(c.1.name.clone());
            }
        }
    }
    let ratio = exact as f64 / cases.len() as f64;
    println!("exact {exact}/{} = {:.1} %", cases.len(), ratio * 100.0);
    assert!(wrong_family.is_empty(), "wrong families: {wrong_family:?}");
    assert!(ratio >= 0.98, "exact {:.1} % < 98 %", ratio * 100.0);
}

#[test]
fn every_family_of_the_issue_is_in_the_corpus() {
    let cases = corpus();
    for family in [
        "ubuntu",
        "debian",
        "rocky",
        "almalinux",
        "rhel",
        "centos",
        "centos-stream",
        "fedora",
        "opensuse-leap",
        "opensuse-tumbleweed",
        "sles",
        "oraclelinux",
        "freebsd",
        "openbsd",
        "netbsd",
        "windows-server",
        "windows",
        "vmware-esxi",
        "alpine",
        "arch",
        "proxmox-ve",
        "truenas",
        "pfsense",
        "talos",
        "flatcar",
        "coreos",
        "systemrescue",
    ] {
        assert!(
            cases
                .iter()
                .any(|c| c.expected[0].as_deref() == Some(family)),
            "no {family} in the corpus"
        );
    }
    for style in ["file", "vss", "cloudmc", "cox", "action"] {
        assert!(
            cases.iter().any(|c| c.item.provider == style),
            "no {style} names"
        );
    }
    let unknown = cases.iter().filter(|c| c.expected[0].is_none()).count();
    assert!(unknown >= 15, "only {unknown} negatives");
}

#[test]
fn evidence_names_the_field_and_rule_and_round_trips() {
    let mut item = Iso::new(
        "cox",
        ProviderKind::Cox,
        ItemKind::Image,
        "x",
        "cox-edge/img:v1",
    );
    item.labels.insert("family".into(), "debian11".into());
    recognise(&mut item);
    let json = serde_json::to_value(&item).unwrap();
    assert_eq!(json["os"]["family"], "debian");
    assert_eq!(json["os"]["version"], "11");
    assert_eq!(
        json["identity_evidence"][0],
        serde_json::json!({"attribute": "family", "field": "labels.family", "rule": "debian"})
    );
    assert_eq!(json["identity_evidence"][1]["rule"], "glued");
    let back: Iso = serde_json::from_value(json).unwrap();
    assert_eq!(back, item);
    // Unrecognised: the fields are null and there is no evidence key.
    let mut plain = Iso::new(
        "p",
        ProviderKind::Vss,
        ItemKind::Iso,
        "y",
        "my-custom-build.iso",
    );
    recognise(&mut plain);
    let json = serde_json::to_value(&plain).unwrap();
    assert!(json.get("identity_evidence").is_none());
    assert_eq!(
        (
            json["arch"].clone(),
            json["edition"].clone(),
            json["os"].clone()
        ),
        (
            serde_json::Value::Null,
            serde_json::Value::Null,
            serde_json::Value::Null
        )
    );
}

/// `recognise_all` reuses the scans of texts that repeat across items: the
/// result must be exactly what `recognise` gives each item alone, whether a
/// text is seen again, is too long to keep, collides with another in the
/// table, or comes after so many unique texts that the memo has given up.
#[test]
fn recognising_a_whole_listing_gives_what_each_item_gives_alone() {
    let base: Vec<Iso> = corpus().into_iter().map(|c| c.item).collect();
    let mut items = Vec::new();
    // Unique descriptions first (the memo's probation), then the corpus
    // three times over with its descriptions, labels and folders repeating,
    // each copy given texts the others share.
    for (n, b) in base.iter().enumerate().take(1500.min(base.len())) {
        let mut i = b.clone();
        i.description = Some(format!("unique description {n} for {}", b.name));
        items.push(i);
    }
    for round in 0..3 {
        for (n, b) in base.iter().enumerate() {
            let mut i = b.clone();
            if round > 0 {
                i.description = Some(match n % 4 {
                    0 => "Image using ubuntu".to_owned(),
                    1 => "Rocky Linux 9.4 x86_64 minimal".to_owned(),
                    2 => "a description far longer than any kept in the memo, naming debian 12 arm64 netinst".to_owned(),
                    _ => base[(n * 7) % base.len()].name.clone(),
                });
                i.labels.insert(
                    "family".into(),
                    ["centos7", "windows", "fedora"][n % 3].into(),
                );
                i.labels.insert("tag".into(), format!("v2024{:02}", n % 12));
            }
            items.push(i);
        }
    }
    let mut alone = items.clone();
    alone.iter_mut().for_each(recognise);
    isogate_core::identity::recognise_all(&mut items);
    assert_eq!(items.len(), alone.len());
    let recognised = alone
        .iter()
        .filter(|i| i.os.as_ref().is_some_and(|o| o.family.is_some()))
        .count();
    assert!(recognised > alone.len() / 2, "a corpus mostly recognised");
    for (a, b) in items.iter().zip(&alone) {
        assert_eq!(a, b, "{}", a.name);
    }
}

/// The memo gives up after its probation when texts do not repeat, and
/// still answers as `recognise` does afterwards.
#[test]
fn a_listing_of_unique_texts_is_recognised_as_each_alone() {
    let mut items: Vec<Iso> = (0..3000)
        .map(|n| {
            let mut i = Iso::new(
                "vss",
                ProviderKind::Vss,
                ItemKind::Iso,
                &format!("u{n}"),
                &format!("[ds] Linux/Distro{n}/rocky-9.{n}-x86_64-dvd.iso"),
            );
            i.description = Some(format!("build {n} of ubuntu 24.04.{n}"));
            i
        })
        .collect();
    let mut alone = items.clone();
    alone.iter_mut().for_each(recognise);
    isogate_core::identity::recognise_all(&mut items);
    assert_eq!(items, alone);
}
