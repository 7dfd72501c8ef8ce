// Settings in a map behind a lock: the example of `Settings`, compiled by its docs and
// run by the conformance crate's tests.

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::sync::Mutex;

use tokenauth_core::store::Settings;

#[derive(Default)]
struct MapSettings {
    values: Mutex<BTreeMap<String, String>>,
}

impl Settings for MapSettings {
    type Error = Infallible;

    async fn settings(&self, prefix: &str) -> Result<BTreeMap<String, String>, Infallible> {
        let values = self.values.lock().unwrap();
        let matching = values.iter().filter(|(key, _)| key.starts_with(prefix));
        Ok(matching.map(|(k, v)| (k.clone(), v.clone())).collect())
    }

    async fn replace_settings(
        &self,
        prefix: &str,
        new: &BTreeMap<String, String>,
    ) -> Result<(), Infallible> {
        // One lock for the removal and the insert: no reader sees half of it.
        let mut values = self.values.lock().unwrap();
        values.retain(|key, _| !key.starts_with(prefix));
        values.extend(new.iter().map(|(k, v)| (k.clone(), v.clone())));
        Ok(())
    }
}
