//! Registering the schematic, reading it back, and registering it again once when the factory
//! has lost it (a known fault): shared by every worker of the stage, so a 404 anywhere is
//! checked against the factory's copy and repaired once per run.

use std::sync::{Arc, Mutex};

use anyhow::bail;

use crate::host::http::{self, Client};
use crate::host::progress::Progress;
use crate::image::factory::Factory;
use crate::image::plan::SchematicPlan;
use crate::image::talos::FactoryUrl;

/// The schematic as registered with the factory, shared by the workers: a factory can lose a
/// schematic it answered 201 to (image-factory #535), which shows as a 404 on a later request.
/// Such a 404 is checked against `GET /schematics/<id>`; if the factory no longer has the
/// schematic, it is posted once more and the request is made again.
pub(super) struct Registration {
    factory: FactoryUrl,
    schematic: SchematicPlan,
    client: Arc<Client>,
    /// Whether the one second POST of this run has been made.
    posted_again: Mutex<bool>,
    out: Progress,
}

impl Registration {
    pub(super) fn new(
        factory: FactoryUrl,
        schematic: SchematicPlan,
        client: Arc<Client>,
        out: &Progress,
    ) -> Registration {
        Registration {
            factory,
            schematic,
            client,
            posted_again: Mutex::new(false),
            out: out.clone(),
        }
    }

    fn factory(&self) -> Factory<'_> {
        Factory::new(&self.client, &self.factory)
    }

    /// POST, then read back: a factory that answered 201 without storing the schematic gets it
    /// once more.
    pub(super) fn register(&self) -> anyhow::Result<()> {
        let factory = self.factory();
        let id = factory.register(&self.schematic)?;
        if factory.has_schematic(&id)? {
            return Ok(());
        }
        self.out.println(&format!(
            "the factory answered 201 to schematic {id} but does not have it (GET {}/schematics/{id}: 404); registering it again",
            self.factory.base
        ));
        let mut posted_again = self.lock();
        factory.register(&self.schematic)?;
        *posted_again = true;
        if !factory.has_schematic(&id)? {
            bail!(
                "the factory does not keep schematic {id}: it answered 201 twice, and GET {}/schematics/{id} is 404 both times; try again later, or report it to the factory's operators",
                self.factory.base
            );
        }
        Ok(())
    }

    /// Runs `request`; after a 404, if the factory lost the schematic, registers it again and
    /// runs `request` once more.
    pub(super) fn repairing<T>(
        &self,
        what: &str,
        mut request: impl FnMut() -> anyhow::Result<T>,
    ) -> anyhow::Result<T> {
        match request() {
            Err(error) if http::is_not_found(&error) => {
                if self.repair(what)? {
                    request()
                } else {
                    Err(error)
                }
            }
            other => other,
        }
    }

    /// Whether a request that met a 404 is worth making again: the schematic was lost and is
    /// registered anew (or another worker just did that).
    fn repair(&self, what: &str) -> anyhow::Result<bool> {
        let mut posted_again = self.lock();
        let factory = self.factory();
        let id = &self.schematic.id;
        if factory.has_schematic(id)? {
            // A true 404, unless the second POST happened while this request was on its way.
            return Ok(*posted_again);
        }
        if *posted_again {
            bail!(
                "{what}: the factory lost schematic {id} again after it was registered a second time; try again later, or report it to the factory's operators"
            );
        }
        self.out.println(&format!(
            "{what}: 404, and the factory no longer has schematic {id} (GET {}/schematics/{id}: 404): registering it again and retrying",
            self.factory.base
        ));
        factory.register(&self.schematic)?;
        *posted_again = true;
        if !factory.has_schematic(id)? {
            bail!(
                "{what}: the factory does not keep schematic {id}: registered again, GET {}/schematics/{id} is still 404",
                self.factory.base
            );
        }
        Ok(true)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, bool> {
        self.posted_again.lock().unwrap_or_else(|e| e.into_inner())
    }
}
