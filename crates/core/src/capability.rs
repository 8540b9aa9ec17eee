//! What a provider can do. Each adapter declares one as a struct literal in its
//! constructor; the gateway branches on it, never on a provider's name.

use std::fmt;
use std::str::FromStr;

use serde::Serialize;

/// The operations and query pushdowns a provider supports.
///
/// `Default` is "nothing": an adapter switches on exactly what its upstream
/// documents, e.g. `Capability { list: true, get: true, ..Default::default() }`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Capability {
    /// `list` returns the catalogue.
    pub list: bool,
    /// `get` returns one item by native id.
    pub get: bool,
    /// `import` registers an ISO from a URL.
    pub import: bool,
    /// `update` changes name and/or description.
    pub update: bool,
    /// `delete` removes an item.
    pub delete: bool,
    /// `attach` mounts an item on an instance or server.
    pub attach: bool,
    /// `detach` unmounts whatever is mounted on an instance or server.
    pub detach: bool,
    /// `download_url` generates a download URL.
    pub download_url: bool,
    /// `history` returns the operations done on an item.
    pub history: bool,
    /// `sync` re-reads a personal catalogue from its store.
    pub sync: bool,
    /// `task` reports the state of an asynchronous operation.
    pub tasks: bool,
    /// The upstream can apply some filters itself (see [`crate::Pushdown`]).
    pub filter_pushdown: bool,
    /// The upstream can sort itself.
    pub sort_pushdown: bool,
    /// The upstream's largest page, when it pages.
    pub max_page_size: Option<u32>,
    /// URL schemes the upstream's import accepts (lower case), as its
    /// documentation limits them; the gateway refuses others before the call.
    /// Empty: none (no import).
    pub import_schemes: &'static [&'static str],
}

/// One operation of [`crate::IsoProvider`] that a capability switches on or off.
///
/// The one spelling of an operation name: the gateway's 501 gate, the
/// resilience layers, the adapters' error context and the conformance suite
/// all take this type, so a misspelt operation does not compile:
///
/// ```compile_fail
/// use isogate_core::{Capability, Operation};
/// Capability::default().supports(Operation::Atach);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Operation {
    /// `list`.
    List,
    /// `get`.
    Get,
    /// `import`.
    Import,
    /// `update`.
    Update,
    /// `delete`.
    Delete,
    /// `attach`.
    Attach,
    /// `detach`.
    Detach,
    /// `download_url`.
    DownloadUrl,
    /// `history`.
    History,
    /// `sync`.
    Sync,
    /// `task` (the capability is called `tasks`).
    Task,
}

impl Operation {
    /// Every operation, in the order `/v1/providers` lists capabilities.
    pub const ALL: [Operation; 11] = [
        Operation::List,
        Operation::Get,
        Operation::Import,
        Operation::Update,
        Operation::Delete,
        Operation::Attach,
        Operation::Detach,
        Operation::DownloadUrl,
        Operation::History,
        Operation::Sync,
        Operation::Task,
    ];

    /// The capability's name on the wire: `/v1/providers` `capabilities`, 501
    /// answers and `Unsupported` errors. Stable; `Task` is `tasks` here.
    pub fn as_str(self) -> &'static str {
        match self {
            Operation::Task => "tasks",
            other => other.method(),
        }
    }

    /// The [`crate::IsoProvider`] method's name, which errors name as their
    /// `operation` and metrics label calls with. Differs from
    /// [`Operation::as_str`] only for `Task` (`task`): both spellings are on
    /// the wire today, so both are kept, each in this one place.
    pub fn method(self) -> &'static str {
        match self {
            Operation::List => "list",
            Operation::Get => "get",
            Operation::Import => "import",
            Operation::Update => "update",
            Operation::Delete => "delete",
            Operation::Attach => "attach",
            Operation::Detach => "detach",
            Operation::DownloadUrl => "download_url",
            Operation::History => "history",
            Operation::Sync => "sync",
            Operation::Task => "task",
        }
    }

    /// Reads change nothing upstream, so repeating one is safe.
    pub fn is_read(self) -> bool {
        matches!(
            self,
            Operation::List | Operation::Get | Operation::History | Operation::Task
        )
    }
}

impl fmt::Display for Operation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An operation name that is none of [`Operation::ALL`].
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("unknown operation '{0}'")]
pub struct UnknownOperation(pub String);

impl FromStr for Operation {
    type Err = UnknownOperation;

    /// Either spelling ([`Operation::as_str`] or [`Operation::method`]).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Operation::ALL
            .into_iter()
            .find(|op| op.as_str() == s || op.method() == s)
            .ok_or_else(|| UnknownOperation(s.to_owned()))
    }
}

impl Serialize for Operation {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl Capability {
    /// Whether the operation is switched on.
    pub fn supports(&self, operation: Operation) -> bool {
        match operation {
            Operation::List => self.list,
            Operation::Get => self.get,
            Operation::Import => self.import,
            Operation::Update => self.update,
            Operation::Delete => self.delete,
            Operation::Attach => self.attach,
            Operation::Detach => self.detach,
            Operation::DownloadUrl => self.download_url,
            Operation::History => self.history,
            Operation::Sync => self.sync,
            Operation::Task => self.tasks,
        }
    }

    /// The operations this capability switches on, in [`Operation::ALL`] order.
    pub fn supported(&self) -> impl Iterator<Item = Operation> + '_ {
        Operation::ALL.into_iter().filter(|op| self.supports(*op))
    }

    /// The names of [`Capability::supported`], for `/v1/providers`.
    pub fn operations(&self) -> Vec<&'static str> {
        self.supported().map(Operation::as_str).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_supports_nothing_and_literals_switch_on_named_ops() {
        assert!(Capability::default().operations().is_empty());
        let cap = Capability {
            list: true,
            attach: true,
            ..Default::default()
        };
        assert_eq!(cap.operations(), vec!["list", "attach"]);
        assert!(cap.supports(Operation::Attach));
        assert!(!cap.supports(Operation::Import));
        assert!("teleport".parse::<Operation>().is_err());
        assert!(cap.supports(Operation::Attach));
        assert!(!cap.supports(Operation::Import));
    }

    #[test]
    fn names_round_trip_and_unknown_names_are_errors() {
        for op in Operation::ALL {
            assert_eq!(op.as_str().parse::<Operation>(), Ok(op));
            assert_eq!(op.method().parse::<Operation>(), Ok(op));
            assert_eq!(op.to_string(), op.as_str());
            assert_eq!(serde_json::to_value(op).unwrap(), op.as_str());
        }
        // Today's wire names, unchanged.
        let names: Vec<_> = Operation::ALL.iter().map(|op| op.as_str()).collect();
        assert_eq!(
            names,
            [
                "list",
                "get",
                "import",
                "update",
                "delete",
                "attach",
                "detach",
                "download_url",
                "history",
                "sync",
                "tasks"
            ]
        );
        assert_eq!(Operation::Task.method(), "task");
        for bad in ["atach", "", "List", "tasks ", "download-url"] {
            assert_eq!(
                bad.parse::<Operation>(),
                Err(UnknownOperation(bad.to_owned())),
                "{bad:?}"
            );
        }
        let reads: Vec<_> = Operation::ALL.into_iter().filter(|o| o.is_read()).collect();
        assert_eq!(
            reads,
            [
                Operation::List,
                Operation::Get,
                Operation::History,
                Operation::Task
            ]
        );
    }

    #[test]
    fn every_operation_maps_to_its_own_field() {
        for op in Operation::ALL {
            let only = Capability::default();
            assert!(!only.supports(op));
            let on: Vec<_> = Operation::ALL
                .into_iter()
                .filter(|o| {
                    let mut c = Capability::default();
                    set(&mut c, *o);
                    c.supports(op)
                })
                .collect();
            assert_eq!(on, [op], "{op}");
        }
    }

    fn set(c: &mut Capability, op: Operation) {
        match op {
            Operation::List => c.list = true,
            Operation::Get => c.get = true,
            Operation::Import => c.import = true,
            Operation::Update => c.update = true,
            Operation::Delete => c.delete = true,
            Operation::Attach => c.attach = true,
            Operation::Detach => c.detach = true,
            Operation::DownloadUrl => c.download_url = true,
            Operation::History => c.history = true,
            Operation::Sync => c.sync = true,
            Operation::Task => c.tasks = true,
        }
    }
}
