//! What a provider can do. Each adapter declares one as a struct literal in its
//! constructor; the gateway branches on it, never on a provider's name.

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
}

/// The names of the capabilities, for 501 answers and `/v1/providers`.
impl Capability {
    /// Whether the named operation is supported; `None` for an unknown name.
    pub fn supports(&self, operation: &str) -> Option<bool> {
        Some(match operation {
            "list" => self.list,
            "get" => self.get,
            "import" => self.import,
            "update" => self.update,
            "delete" => self.delete,
            "attach" => self.attach,
            "detach" => self.detach,
            "download_url" => self.download_url,
            "history" => self.history,
            "sync" => self.sync,
            "task" | "tasks" => self.tasks,
            _ => return None,
        })
    }

    /// The operations this capability switches on, in a fixed order.
    pub fn operations(&self) -> Vec<&'static str> {
        OPERATIONS
            .iter()
            .copied()
            .filter(|op| self.supports(op) == Some(true))
            .collect()
    }
}

/// Every operation name a capability can switch on.
pub const OPERATIONS: [&str; 11] = [
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
    "tasks",
];

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
        assert_eq!(cap.supports("attach"), Some(true));
        assert_eq!(cap.supports("import"), Some(false));
        assert_eq!(cap.supports("teleport"), None);
    }
}
