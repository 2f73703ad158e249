//! A function as the local stack deploys it: requests run on the current one, and a
//! redeploy (a key rotation, a new configuration) puts a new one in its place.

use std::sync::Arc;

/// A function as deployed: a deploy puts a new one in its place.
pub struct Deployed<T>(std::sync::RwLock<Arc<T>>);

impl<T> Deployed<T> {
    pub fn new(function: Arc<T>) -> Self {
        Self(std::sync::RwLock::new(function))
    }

    /// The function a request arriving now runs on.
    pub fn current(&self) -> Arc<T> {
        self.0
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    pub(crate) fn replace(&self, function: Arc<T>) {
        *self
            .0
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = function;
    }
}
