//! Spin's own interfaces, `fermyon:spin/key-value@2.0.0` and
//! `variables@2.0.0` (vendored in `wit/`), backed by the in-memory
//! [`crate::SpinState`] a test changes between requests. Every call is
//! recorded in [`crate::SpinState::calls`]. They are sync host functions: a
//! 0.3 guest calls them from its async export just the same.

use crate::{lock, State};
use std::collections::HashMap;
use wasmtime::component::{HasSelf, Linker, Resource};

mod bindings {
    wasmtime::component::bindgen!({
        path: "wit",
        world: "fermyon:spin/test-host",
        with: { "fermyon:spin/key-value.store": super::OpenStore },
    });
}

use bindings::fermyon::spin::{key_value, variables};

/// A store opened by the guest.
pub struct OpenStore {
    label: String,
}

pub(crate) fn add_to_linker(linker: &mut Linker<State>) -> anyhow::Result<()> {
    key_value::add_to_linker::<State, HasSelf<State>>(linker, |s| s)?;
    variables::add_to_linker::<State, HasSelf<State>>(linker, |s| s)?;
    Ok(())
}

impl State {
    fn with_store<R>(
        &mut self,
        op: String,
        handle: &Resource<OpenStore>,
        f: impl FnOnce(&mut HashMap<String, Vec<u8>>) -> R,
    ) -> Result<R, key_value::Error> {
        let label = self
            .table
            .get(handle)
            .map_err(|e| key_value::Error::Other(e.to_string()))?
            .label
            .clone();
        let mut spin = lock(&self.spin);
        spin.calls.push(format!("kv.{op}"));
        if let Some(reason) = &spin.kv_failure {
            return Err(key_value::Error::Other(reason.clone()));
        }
        spin.stores
            .get_mut(&label)
            .map(f)
            .ok_or(key_value::Error::NoSuchStore)
    }
}

impl key_value::Host for State {}

impl key_value::HostStore for State {
    fn open(&mut self, label: String) -> Result<Resource<OpenStore>, key_value::Error> {
        let mut spin = lock(&self.spin);
        spin.calls.push(format!("kv.open {label}"));
        if !spin.stores.contains_key(&label) {
            // Spin answers this for a store the component was not granted.
            return Err(key_value::Error::AccessDenied);
        }
        drop(spin);
        self.table
            .push(OpenStore { label })
            .map_err(|e| key_value::Error::Other(e.to_string()))
    }

    fn get(
        &mut self,
        store: Resource<OpenStore>,
        key: String,
    ) -> Result<Option<Vec<u8>>, key_value::Error> {
        self.with_store(format!("get {key}"), &store, |s| s.get(&key).cloned())
    }

    fn set(
        &mut self,
        store: Resource<OpenStore>,
        key: String,
        value: Vec<u8>,
    ) -> Result<(), key_value::Error> {
        self.with_store(format!("set {key}"), &store, |s| {
            s.insert(key, value);
        })
    }

    fn delete(&mut self, store: Resource<OpenStore>, key: String) -> Result<(), key_value::Error> {
        self.with_store(format!("delete {key}"), &store, |s| {
            s.remove(&key);
        })
    }

    fn exists(
        &mut self,
        store: Resource<OpenStore>,
        key: String,
    ) -> Result<bool, key_value::Error> {
        self.with_store(format!("exists {key}"), &store, |s| s.contains_key(&key))
    }

    fn get_keys(&mut self, store: Resource<OpenStore>) -> Result<Vec<String>, key_value::Error> {
        self.with_store("get-keys".into(), &store, |s| s.keys().cloned().collect())
    }

    fn drop(&mut self, store: Resource<OpenStore>) -> wasmtime::Result<()> {
        self.table.delete(store)?;
        Ok(())
    }
}

impl variables::Host for State {
    fn get(&mut self, name: String) -> Result<String, variables::Error> {
        let mut spin = lock(&self.spin);
        spin.calls.push(format!("variables.get {name}"));
        spin.variables
            .get(&name)
            .cloned()
            .ok_or(variables::Error::Undefined(name))
    }
}
