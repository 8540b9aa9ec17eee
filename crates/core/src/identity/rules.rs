//! The recognition rules, as data. Each pattern is a space-separated run of
//! lowercase tokens (a token is a maximal run of ASCII letters and digits in
//! the source text, so `x86_64` is the two tokens `x86 64`). The matcher in
//! `mod.rs` is generic; adding a distribution means adding rows here.

/// How a family writes its versions; a candidate that does not fit is not a
/// version of that family (so `ubuntu:v20201110` has no version, not `20201110`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Shape {
    /// `NN.NN` with an optional point release (Ubuntu, TrueNAS SCALE-like).
    YearMonth,
    /// A 1-2 digit major with optional dotted parts (`9`, `9.4`, `12.7.0`).
    Major,
    /// A 4-digit year, optionally followed by `R2` (Windows Server).
    Year,
    /// `7`, `8`, `8.1`, `10`, `11` (Windows client).
    WinClient,
    /// `YYYY.MM.DD` (Arch Linux).
    Date,
    /// Anything that starts with a digit (`8.0U2`, `3.20.3`, `13.0-U6.2`).
    Any,
    /// No versions (rolling releases): never a version.
    Never,
}

/// One family pattern.
pub(crate) struct FamilyRule {
    /// The `os.family` it yields.
    pub family: &'static str,
    /// The tokens, space-separated.
    pub pattern: &'static str,
    /// Whether the last token may carry the version glued on (`centos7`, `win11`).
    pub glued: bool,
    /// Whether the pattern also matches without glued digits (`win` alone is no OS).
    pub bare: bool,
    /// A version this pattern fixes by itself (release code names), if any.
    pub version: Option<&'static str>,
    /// How the family's versions look.
    pub shape: Shape,
    /// An edition the pattern implies by itself (`server eval`), if any.
    pub edition: Option<&'static str>,
}

const fn fam(family: &'static str, pattern: &'static str, shape: Shape) -> FamilyRule {
    FamilyRule {
        family,
        pattern,
        glued: false,
        bare: true,
        version: None,
        shape,
        edition: None,
    }
}

const fn glued(family: &'static str, pattern: &'static str, shape: Shape) -> FamilyRule {
    FamilyRule {
        family,
        pattern,
        glued: true,
        bare: true,
        version: None,
        shape,
        edition: None,
    }
}

const fn codename(
    family: &'static str,
    pattern: &'static str,
    version: &'static str,
) -> FamilyRule {
    FamilyRule {
        family,
        pattern,
        glued: false,
        bare: true,
        version: Some(version),
        shape: Shape::Any,
        edition: None,
    }
}

const fn eval(family: &'static str, pattern: &'static str, shape: Shape) -> FamilyRule {
    FamilyRule {
        family,
        pattern,
        glued: false,
        bare: true,
        version: None,
        shape,
        edition: Some("eval"),
    }
}

/// `win11`, never `win` alone (`virtio-win` is a driver disc).
const fn glued_only(family: &'static str, pattern: &'static str, shape: Shape) -> FamilyRule {
    FamilyRule {
        family,
        pattern,
        glued: true,
        bare: false,
        version: None,
        shape,
        edition: None,
    }
}

use Shape::*;

/// Family patterns. Where several match, the earliest in the text wins, then
/// the longest (`centos stream` over `centos`, `fedora coreos` over `fedora`).
pub(crate) static FAMILIES: &[FamilyRule] = &[
    glued("ubuntu", "ubuntu", YearMonth),
    codename("ubuntu", "xenial", "16.04"),
    codename("ubuntu", "bionic", "18.04"),
    codename("ubuntu", "focal", "20.04"),
    codename("ubuntu", "jammy", "22.04"),
    codename("ubuntu", "kinetic", "22.10"),
    codename("ubuntu", "lunar", "23.04"),
    codename("ubuntu", "mantic", "23.10"),
    codename("ubuntu", "noble", "24.04"),
    codename("ubuntu", "oracular", "24.10"),
    codename("ubuntu", "plucky", "25.04"),
    glued("debian", "debian", Major),
    codename("debian", "stretch", "9"),
    codename("debian", "buster", "10"),
    codename("debian", "bullseye", "11"),
    codename("debian", "bookworm", "12"),
    codename("debian", "trixie", "13"),
    glued("rocky", "rocky", Major),
    glued("rocky", "rockylinux", Major),
    fam("rocky", "rocky linux", Major),
    glued("almalinux", "almalinux", Major),
    fam("almalinux", "alma linux", Major),
    glued("rhel", "rhel", Major),
    fam("rhel", "red hat enterprise linux", Major),
    fam("rhel", "redhat enterprise linux", Major),
    glued("centos", "centos", Major),
    glued("centos-stream", "centos stream", Major),
    glued("fedora", "fedora", Major),
    fam("coreos", "fedora coreos", Any),
    fam("coreos", "coreos", Any),
    fam("opensuse-leap", "opensuse leap", Major),
    fam("opensuse-leap-micro", "opensuse leap micro", Major),
    fam("opensuse-tumbleweed", "opensuse tumbleweed", Never),
    fam("sles", "sle", Major),
    glued("sles", "sles", Major),
    fam("sles", "suse linux enterprise server", Major),
    glued("oraclelinux", "oraclelinux", Major),
    fam("oraclelinux", "oracle linux", Major),
    glued("freebsd", "freebsd", Any),
    glued("openbsd", "openbsd", Any),
    glued("netbsd", "netbsd", Any),
    fam("windows-server", "windows server", Year),
    fam("windows-server", "win server", Year),
    eval("windows-server", "server eval", Year),
    fam("windows-server", "windows srv", Year),
    fam("windows", "windows", WinClient),
    glued_only("windows", "win", WinClient),
    eval("windows", "cliententerpriseeval", WinClient),
    fam("windows", "clientconsumer", WinClient),
    fam("windows", "clientbusiness", WinClient),
    fam("vmware-esxi", "vmware vmvisor", Any),
    glued("vmware-esxi", "esxi", Any),
    fam("vmware-esxi", "vmware esxi", Any),
    fam("alpine", "alpine", Any),
    fam("arch", "archlinux", Date),
    fam("arch", "arch linux", Date),
    fam("proxmox-ve", "proxmox ve", Any),
    fam("proxmox-backup-server", "proxmox backup server", Any),
    fam("truenas", "truenas", Any),
    fam("pfsense", "pfsense", Any),
    fam("talos", "talos", Any),
    fam("flatcar", "flatcar", Any),
    fam("systemrescue", "systemrescue", Major),
    // SystemRescueCd, the name until 6.1 (`systemrescuecd-x86-5.3.2.iso`).
    fam("systemrescue", "systemrescuecd", Major),
];

/// File names that carry a family's release as two glued digits
/// (`install75.iso` is OpenBSD 7.5): (family, the token's letters). Read
/// only once the family is known from another field (a VSS path, a
/// description, a label): `install75.iso` by itself names no OS.
pub(crate) static RELEASE_FILES: &[(&str, &str)] = &[
    // cdn.openbsd.org/pub/OpenBSD/7.5/amd64/: installNN.iso (the sets),
    // cdNN.iso (boot only), minirootNN.img.
    ("openbsd", "install"),
    ("openbsd", "cd"),
    ("openbsd", "miniroot"),
];

/// Normalised architectures.
pub(crate) static ARCHES: &[(&str, &str)] = &[
    ("x86 64", "x86_64"),
    ("amd64", "x86_64"),
    ("x64", "x86_64"),
    ("x64fre", "x86_64"),
    ("x64v1", "x86_64"),
    ("x64v2", "x86_64"),
    ("aarch64", "aarch64"),
    ("arm64", "aarch64"),
    ("arm64fre", "aarch64"),
    ("i386", "i386"),
    ("i486", "i386"),
    ("i586", "i386"),
    ("i686", "i386"),
    ("x86", "i386"),
    ("x86fre", "i386"),
    ("ppc64le", "ppc64le"),
    ("ppc64el", "ppc64le"),
    ("s390x", "s390x"),
    ("riscv64", "riscv64"),
    ("armhf", "armv7"),
    ("armv7", "armv7"),
    ("armv7l", "armv7"),
    ("armv7hl", "armv7"),
    ("loongarch64", "loongarch64"),
];

/// Editions and media kinds, in priority order: when a name holds several,
/// the first row here that matches wins (`live server` over `server`).
pub(crate) static EDITIONS: &[(&str, &str)] = &[
    ("live server", "live-server"),
    ("server cloudimg", "cloud"),
    ("cloudimg", "cloud"),
    ("genericcloud", "cloud"),
    ("generic", "cloud"),
    ("nocloud", "cloud"),
    ("cloud", "cloud"),
    ("netinst", "netinst"),
    ("net", "netinst"),
    ("netboot", "netboot"),
    ("minimal", "minimal"),
    ("boot", "boot"),
    ("bootonly", "boot"),
    ("mini memstick", "memstick"),
    ("memstick", "memstick"),
    ("disc1", "disc"),
    ("dvd", "dvd"),
    ("dvd1", "dvd"),
    ("dvd5", "dvd"),
    ("dvd9", "dvd"),
    ("eval", "eval"),
    ("evaluation", "eval"),
    ("installer", "installer"),
    ("standard", "standard"),
    ("virt", "virt"),
    ("extended", "extended"),
    ("full", "full"),
    ("online", "online"),
    ("scale", "scale"),
    ("live", "live"),
    ("desktop", "desktop"),
    ("workstation", "workstation"),
    ("server", "server"),
];

/// Windows build numbers (the leading number of Microsoft's media names) by family.
pub(crate) static WINDOWS_BUILDS: &[(&str, &str, &str)] = &[
    ("9600", "windows-server", "2012 R2"),
    ("14393", "windows-server", "2016"),
    ("17763", "windows-server", "2019"),
    ("20348", "windows-server", "2022"),
    ("26100", "windows-server", "2025"),
    ("9600", "windows", "8.1"),
    ("10240", "windows", "10"),
    ("14393", "windows", "10"),
    ("17763", "windows", "10"),
    ("19041", "windows", "10"),
    ("19044", "windows", "10"),
    ("19045", "windows", "10"),
    ("22000", "windows", "11"),
    ("22621", "windows", "11"),
    ("22631", "windows", "11"),
    ("26100", "windows", "11"),
];

/// Tokens a version may be extended with after a `-` or `.` (`15-SP5`,
/// `13.0-U6.2`, `6.7.0.update03`).
pub(crate) static VERSION_SUFFIXES: &[&str] = &["sp", "update", "u"];

/// Words of media made *for* an OS rather than *of* one (drivers, guest
/// tools): a field holding one names no family.
pub(crate) static VETOES: &[&str] = &[
    "virtio",
    "tools",
    "drivers",
    "guestadditions",
    "vboxguestadditions",
];
