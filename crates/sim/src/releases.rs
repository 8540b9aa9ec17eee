//! Real installer ISOs the simulators share, with one size per file, so the
//! same file offered by several simulated clouds has the same size there and
//! the demo's `/v1/images` shows real groups (and, where a simulator keeps
//! its own respin, a real difference). The sizes are plausible for each file
//! (close to the distributions' own), not byte-exact copies of them.

/// (file stem, bytes)
const RELEASES: [(&str, u64); 30] = [
    ("ubuntu-20.04.6-live-server-amd64", 1_487_339_520),
    ("ubuntu-22.04.4-live-server-amd64", 2_104_408_064),
    ("ubuntu-22.04.4-desktop-amd64", 4_927_586_304),
    ("ubuntu-24.04.1-live-server-amd64", 2_773_874_688),
    ("debian-11.9.0-amd64-netinst", 408_944_640),
    ("debian-12.5.0-amd64-netinst", 659_554_304),
    ("debian-12.5.0-amd64-DVD-1", 3_994_091_520),
    ("CentOS-7-x86_64-Minimal-2009", 1_020_264_448),
    ("CentOS-7-x86_64-DVD-2009", 4_712_300_544),
    ("CentOS-Stream-9-latest-x86_64-boot", 1_106_247_680),
    ("Rocky-8.9-x86_64-dvd1", 13_535_019_008),
    ("Rocky-8.9-x86_64-minimal", 2_398_683_136),
    ("Rocky-9.3-x86_64-minimal", 1_868_562_432),
    ("AlmaLinux-8.9-x86_64-minimal", 2_401_239_040),
    ("AlmaLinux-9.3-x86_64-minimal", 1_860_175_872),
    ("AlmaLinux-9.4-x86_64-minimal", 2_030_043_136),
    ("Fedora-Server-dvd-x86_64-39-1.5", 2_612_854_784),
    ("Fedora-Server-dvd-x86_64-40-1.14", 2_612_793_344),
    ("openSUSE-Leap-15.5-DVD-x86_64", 4_370_464_768),
    ("FreeBSD-13.3-RELEASE-amd64-disc1", 1_183_094_784),
    ("FreeBSD-14.0-RELEASE-amd64-disc1", 1_189_591_040),
    ("FreeBSD-14.1-RELEASE-amd64-disc1", 1_283_588_096),
    ("Windows_Server_2019_Eval_x64", 5_296_713_728),
    ("Windows_Server_2022_Eval_x64", 5_044_094_976),
    ("proxmox-ve_8.2-1", 1_331_691_520),
    (
        "VMware-VMvisor-Installer-7.0U3n-21930508.x86_64",
        417_333_248,
    ),
    (
        "VMware-VMvisor-Installer-8.0U2-22380479.x86_64",
        629_145_600,
    ),
    ("systemrescue-11.00-amd64", 853_540_864),
    ("systemrescue-11.01-amd64", 857_735_168),
    ("alpine-standard-3.19.1-x86_64", 207_618_048),
];

/// The size of the real file `stem` (no `.iso`), if it is one of the table's.
pub(crate) fn size_of(stem: &str) -> Option<u64> {
    RELEASES.iter().find(|(s, _)| *s == stem).map(|(_, b)| *b)
}

#[cfg(test)]
mod tests {
    #[test]
    fn stems_are_unique_and_sizes_plausible() {
        let mut stems: Vec<&str> = super::RELEASES.iter().map(|r| r.0).collect();
        stems.sort_unstable();
        stems.dedup();
        assert_eq!(stems.len(), super::RELEASES.len());
        assert!(
            super::RELEASES
                .iter()
                .all(|r| (100 << 20..16 << 30).contains(&r.1))
        );
        assert_eq!(
            super::size_of("debian-12.5.0-amd64-netinst"),
            Some(659_554_304)
        );
        assert_eq!(super::size_of("debian-12.5.0-amd64-netinst.iso"), None);
    }
}
