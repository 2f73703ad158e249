//! What a test's process-wide log subscriber writes, kept in memory: pass a clone as the
//! writer of [`shared::logging::subscriber`], read the lines afterwards.

use std::io::Write;
use std::sync::{Arc, Mutex};

/// Every line written, in memory.
#[derive(Clone, Default)]
pub struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Captured {
    /// Install the functions' log set-up ([`shared::logging::subscriber`]) with
    /// `directives` and `format` as this test binary's one process-wide subscriber, writing
    /// here.
    pub fn install(directives: &str, format: shared::logging::Format) -> Self {
        let captured = Self::default();
        let writer = captured.clone();
        tracing_subscriber::util::SubscriberInitExt::try_init(shared::logging::subscriber(
            directives,
            format,
            move || writer.clone(),
        ))
        .expect("the only subscriber of this test binary");
        captured
    }

    /// Everything written so far.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(
            &self
                .0
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner),
        )
        .into_owned()
    }
}
