//! Cox Edge's wire types, as received.

use serde::Deserialize;

/// An image (seed 004).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ImageDto {
    pub id: String,
    #[serde(default)]
    pub stack_id: Option<String>,
    #[serde(default)]
    pub slug: Option<String>,
    #[serde(default)]
    pub family: Option<String>,
    #[serde(default)]
    pub tag: Option<String>,
    #[serde(default)]
    pub created_at: Option<String>,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub reference: Option<String>,
    #[serde(default)]
    pub status: Option<String>,
}
