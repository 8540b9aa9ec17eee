//! The Cox images endpoints, on the shared CloudMC client.

use isogate_cloudmc::CloudMcClient;
use isogate_core::Result;
use serde_json::Value;

/// `GET .../images[?includeOnlySystemImages=true]`, each raw object
/// converted as it is decoded.
pub(crate) async fn list_images<T>(
    client: &CloudMcClient,
    only_system: bool,
    convert: impl FnMut(Value) -> Result<T>,
) -> Result<Vec<T>> {
    let query: &[(&str, &str)] = if only_system {
        &[("includeOnlySystemImages", "true")]
    } else {
        &[]
    };
    client
        .get_data_each(client.entity_url(&["images"]), query, convert)
        .await
}

/// `GET .../images/{stackId}/{family}/{tag}`: the raw object. Each segment
/// is percent-encoded on its own, so the id's slashes stay separators and
/// nothing else in it can change the path.
pub(crate) async fn get_image(client: &CloudMcClient, segments: [&str; 3]) -> Result<Value> {
    let [stack, family, tag] = segments;
    client
        .get_data(client.entity_url(&["images", stack, family, tag]), &[])
        .await
}
