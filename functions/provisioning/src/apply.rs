//! The applier: brings one customer's tenant to the desired state of its apply message.
//! Convergent: it re-reads the tenant and its offering items and writes only what differs, so a
//! message delivered twice, or a retry after a fault, changes nothing more. Creating a tenant or
//! a user is never repeated blindly (H): the tenant record (`PROVISIONED#`) is written before the
//! create, and a later attempt looks the tenant (or the user) up first. Every remote write
//! leaves an audit item (G3).

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use sync_shared::acronis::{AcronisClient, AcronisError, OfferingItem, codes};
use sync_shared::apply::{ApplyMessage, ApplyOutcome};
use sync_shared::config::Settings;
use sync_shared::plan::PlannedWrite;
use sync_shared::remote::load_settings;

use crate::deprovision::{self, Lifecycle};
use crate::plan::{CustomerDesired, NewTenant, TenantTarget, describe_change, item_changes};
use crate::provisioned::{self, ProvisionState, Provisioned};
use crate::{ProvisioningContext, ProvisioningError};

/// Platform error: a sibling tenant with this name exists.
const NAME_TAKEN: i64 = 1004;
/// Rounds of re-reading the tenant record after a concurrent write.
const RECORD_TRIES: u32 = 5;

/// One apply, with the audit trail it leaves.
pub(crate) struct Applier<'a> {
    pub(crate) ctx: &'a ProvisioningContext,
    pub(crate) message: &'a ApplyMessage<CustomerDesired>,
    pub(crate) client: AcronisClient,
    settings: &'a Settings,
    writes: AtomicU64,
    /// The tenant this apply created, as the platform answered: no re-read, no user lookup.
    created_now: Option<sync_shared::acronis::Tenant>,
    pub(crate) warnings: Vec<String>,
}

pub async fn apply_customer(
    ctx: &ProvisioningContext,
    message: &ApplyMessage<CustomerDesired>,
) -> Result<ApplyOutcome, ProvisioningError> {
    let Some(settings) = load_settings(&ctx.worker, &message.integration_id).await? else {
        return Ok(ApplyOutcome {
            writes: 0,
            warnings: vec!["the integration's settings item is gone; nothing applied".into()],
        });
    };
    if settings.dry_run {
        // Switched to dry run after the plan: make no write.
        return Ok(ApplyOutcome::default());
    }
    if let Some(newer) = superseded_by(ctx, message).await? {
        return Ok(ApplyOutcome {
            writes: 0,
            warnings: vec![format!(
                "an apply message of {} arrived after {newer} had been applied: dropped",
                message.run_id()
            )],
        });
    }
    let client = ctx.clients.acronis(&ctx.worker, &settings).await?;
    let mut applier = Applier {
        ctx,
        message,
        client,
        settings: &settings,
        writes: AtomicU64::new(0),
        created_now: None,
        warnings: Vec::new(),
    };
    applier.run().await?;
    Ok(ApplyOutcome {
        writes: applier.writes.load(Ordering::Relaxed),
        warnings: applier.warnings,
    })
}

/// A two-way customer's messages go to an Autotask group when they carry contract changes and
/// to its own group otherwise, so an older run's message (one that was retried) can arrive after
/// a newer one was applied: the newer run's recorded agreed state names it, and the old message
/// must not undo it. Run ids of one job sort by their slot.
async fn superseded_by(
    ctx: &ProvisioningContext,
    message: &ApplyMessage<CustomerDesired>,
) -> Result<Option<String>, ProvisioningError> {
    if message.desired.two_way.is_none() {
        return Ok(None);
    }
    let Ok(company_id) = message.target.parse::<i64>() else {
        return Ok(None);
    };
    let recorded =
        crate::agreed::recorded_by(&ctx.worker.store, &message.integration_id, company_id).await?;
    Ok(recorded.filter(|run| *run > message.run_id()))
}

impl Applier<'_> {
    async fn run(&mut self) -> Result<(), ProvisioningError> {
        let desired = &self.message.desired;
        let (tenant_id, mut record) = match &desired.tenant {
            TenantTarget::Existing { tenant_id } => (tenant_id.clone(), None),
            TenantTarget::Create(spec) => {
                let record = self.ensure_tenant(spec).await?;
                let tenant_id = record.tenant_id.clone().ok_or_else(|| {
                    ProvisioningError::Conflict("tenant record without a tenant id".into())
                })?;
                (tenant_id, Some(record))
            }
        };
        if desired.lifecycle == Some(Lifecycle::Delete) {
            return deprovision::delete(self, &tenant_id).await;
        }
        let tenant = match self.created_now.clone() {
            Some(tenant) => tenant,
            None => self.client.tenant(&tenant_id).await?,
        };
        if tenant.ancestral_access == Some(false) {
            self.warnings.push(format!(
                "tenant \"{}\" switched to self-service mode: left unchanged (F21)",
                tenant.name
            ));
            return Ok(());
        }
        if let (TenantTarget::Create(spec), Some(record)) = (&desired.tenant, record.as_mut()) {
            if spec.production && tenant.pricing_mode.as_deref() != Some("production") {
                self.audited(
                    "set pricing mode",
                    "tenant",
                    "trial",
                    "production",
                    self.client.set_production(&tenant_id),
                )
                .await?;
            }
            if spec.two_factor_auth && tenant.mfa_status.as_deref() == Some("disabled") {
                self.audited(
                    "set two-factor authentication",
                    "tenant",
                    "disabled",
                    "enabled",
                    self.client.set_mfa(&tenant_id, true),
                )
                .await?;
            }
            self.ensure_admin(spec, &tenant_id, record).await?;
        }
        if desired.switch_to_production && tenant.pricing_mode.as_deref() == Some("trial") {
            self.audited(
                "set pricing mode",
                "tenant",
                "trial",
                "production (a full month of trial has passed)",
                self.client.set_production(&tenant_id),
            )
            .await?;
        }
        deprovision::before_items(self, &tenant).await?;
        // F19: two-way sync's contract changes (Autotask), then the items; the agreed state is
        // recorded only once everything succeeded.
        let contract_writes =
            crate::contract_lines::apply(self.ctx, self.message, self.settings).await?;
        self.writes.fetch_add(contract_writes, Ordering::Relaxed);
        self.apply_items(&tenant_id).await?;
        deprovision::after_items(self, &tenant).await?;
        crate::contract_lines::record_agreed(self.ctx, self.message).await
    }

    /// The recorded tenant, or a new one: recorded as `creating` before the create, looked up
    /// by name before any second create.
    async fn ensure_tenant(&mut self, spec: &NewTenant) -> Result<Provisioned, ProvisioningError> {
        let store = &self.ctx.worker.store;
        let integration_id = &self.message.integration_id;
        let company_id: i64 = self.message.target.parse().map_err(|_| {
            ProvisioningError::Conflict(format!(
                "apply target {} is not a company id",
                self.message.target
            ))
        })?;
        for _ in 0..RECORD_TRIES {
            let existing = provisioned::load(store, integration_id, company_id).await?;
            let mut record = match existing {
                Some(record) if record.tenant_id.is_some() => return Ok(record),
                Some(record) => record,
                None => {
                    let mut intent = Provisioned {
                        company_id,
                        tenant_name: spec.name.clone(),
                        origin: spec.origin,
                        state: ProvisionState::Creating,
                        tenant_id: None,
                        created_at: None,
                        provision_as_trial: !spec.production,
                        admin_user_id: None,
                        admin_role_set: false,
                        activation_email_sent: false,
                        run_id: self.message.run_id(),
                        version: 0,
                    };
                    if !provisioned::save(store, integration_id, &mut intent).await? {
                        continue; // another applier wrote it first: read it again
                    }
                    // Fresh intent: nothing can have been created for it yet.
                    return self.create_tenant(spec, intent).await;
                }
            };
            // A previous attempt may have created the tenant and not recorded it.
            let partner = self.partner().await?;
            if let Some(found) = self.client.child_tenant_named(&partner, &spec.name).await? {
                record.tenant_id = Some(found.id);
                record.state = ProvisionState::Created;
                record.created_at.get_or_insert(self.message.slot);
                if provisioned::save(store, integration_id, &mut record).await? {
                    return Ok(record);
                }
                continue;
            }
            return self.create_tenant(spec, record).await;
        }
        Err(ProvisioningError::Conflict(format!(
            "the tenant record of company {company_id} kept changing under {RECORD_TRIES} tries"
        )))
    }

    async fn create_tenant(
        &mut self,
        spec: &NewTenant,
        mut record: Provisioned,
    ) -> Result<Provisioned, ProvisioningError> {
        let partner = self.partner().await?;
        let object = format!("customer \"{}\" under {partner}", spec.name);
        let created = self
            .client
            .create_customer_tenant(&partner, &spec.name, Some(&spec.admin.email))
            .await;
        let tenant_id = match created {
            Ok(tenant) => {
                let after = format!("created ({})", tenant.id);
                self.audit("create tenant", &object, "absent", &after, Ok(()))
                    .await?;
                let id = tenant.id.clone();
                self.created_now = Some(tenant);
                id
            }
            Err(e) if e.platform_code() == Some(NAME_TAKEN) => {
                // Created by an attempt whose answer was lost: adopt it, never a second one.
                let found = self
                    .client
                    .child_tenant_named(&partner, &spec.name)
                    .await?
                    .ok_or(e)?;
                found.id
            }
            Err(e) => {
                self.audit("create tenant", &object, "absent", "created", Err(&e))
                    .await?;
                return Err(e.into());
            }
        };
        record.tenant_id = Some(tenant_id);
        record.state = ProvisionState::Created;
        // H: the run's "now" is its slot, so a trial's month is counted in schedule time.
        record.created_at = Some(self.message.slot);
        if !provisioned::save(
            &self.ctx.worker.store,
            &self.message.integration_id,
            &mut record,
        )
        .await?
        {
            return Err(ProvisioningError::Conflict(format!(
                "the tenant record of company {} changed while its tenant was created",
                record.company_id
            )));
        }
        Ok(record)
    }

    /// The admin user (F8, H): created once, made company admin, sent the activation email.
    async fn ensure_admin(
        &mut self,
        spec: &NewTenant,
        tenant_id: &str,
        record: &mut Provisioned,
    ) -> Result<(), ProvisioningError> {
        let store = self.ctx.worker.store.clone();
        let integration_id = self.message.integration_id.clone();
        if record.admin_user_id.is_none() {
            // A user created by an attempt that crashed before recording it is found here (a
            // tenant created by this apply has none).
            let existing = match self.created_now {
                Some(_) => Vec::new(),
                None => self.client.tenant_user_ids(tenant_id).await?,
            };
            let user_id = match existing.into_iter().next() {
                Some(user) => user,
                None => {
                    let created = self.client.create_user(tenant_id, &spec.admin).await;
                    let result = created.as_ref().map(|_| ()).map_err(|e| e as &AcronisError);
                    self.audit(
                        "create admin user",
                        &spec.admin.login,
                        "absent",
                        "created",
                        result,
                    )
                    .await?;
                    created?
                }
            };
            record.admin_user_id = Some(user_id);
            self.save_record(&store, &integration_id, record).await?;
        }
        let user_id = record.admin_user_id.clone().unwrap_or_default();
        if !record.admin_role_set {
            self.audited(
                "grant role",
                &spec.admin.login,
                "none",
                sync_shared::acronis::COMPANY_ADMIN_ROLE,
                self.client.make_company_admin(&user_id, tenant_id),
            )
            .await?;
            record.admin_role_set = true;
            self.save_record(&store, &integration_id, record).await?;
        }
        if !record.activation_email_sent {
            self.audited(
                "send activation email",
                &spec.admin.login,
                "not sent",
                &format!("sent to {}", spec.admin.email),
                self.client.send_activation_email(&user_id),
            )
            .await?;
            record.activation_email_sent = true;
            self.save_record(&store, &integration_id, record).await?;
        }
        Ok(())
    }

    /// The partner tenant: from the plan, else asked of the platform.
    async fn partner(&self) -> Result<String, ProvisioningError> {
        match &self.message.desired.partner_id {
            Some(partner) => Ok(partner.clone()),
            None => Ok(self.client.partner_tenant_id().await?),
        }
    }

    async fn save_record(
        &self,
        store: &sync_shared::store::Store,
        integration_id: &str,
        record: &mut Provisioned,
    ) -> Result<(), ProvisioningError> {
        if provisioned::save(store, integration_id, record).await? {
            Ok(())
        } else {
            Err(ProvisioningError::Conflict(format!(
                "the tenant record of company {} changed under this apply",
                record.company_id
            )))
        }
    }

    /// Offering items: re-read, write what differs, re-read again on a version conflict.
    async fn apply_items(&mut self, tenant_id: &str) -> Result<(), ProvisioningError> {
        let wanted = &self.message.desired.items;
        let seen: Mutex<Vec<PlannedWrite>> = Mutex::new(Vec::new());
        let result = self
            .client
            .update_offering_items(tenant_id, |current: &[OfferingItem]| {
                let changes = item_changes(current, wanted);
                if let Ok(mut seen) = seen.lock() {
                    *seen = changes
                        .iter()
                        .map(|c| describe_change(current, c))
                        .collect();
                }
                changes
            })
            .await;
        let described = seen.into_inner().unwrap_or_default();
        match result {
            Ok(update) if update.changed.is_empty() => Ok(()),
            Ok(_) => {
                for write in &described {
                    self.audit(
                        &write.action,
                        &write.object,
                        &write.before,
                        &write.after,
                        Ok(()),
                    )
                    .await?;
                }
                Ok(())
            }
            Err(e) => {
                for write in &described {
                    self.audit(
                        &write.action,
                        &write.object,
                        &write.before,
                        &write.after,
                        Err(&e),
                    )
                    .await?;
                }
                if e.platform_code() == Some(codes::VERSION_MISMATCH) {
                    return Err(e.into());
                }
                Err(e.into())
            }
        }
    }

    pub(crate) async fn audited(
        &self,
        action: &str,
        object: &str,
        before: &str,
        after: &str,
        call: impl Future<Output = Result<(), AcronisError>>,
    ) -> Result<(), ProvisioningError> {
        let result = call.await;
        self.audit(action, object, before, after, result.as_ref().map(|_| ()))
            .await?;
        result.map_err(Into::into)
    }

    async fn audit(
        &self,
        action: &str,
        object: &str,
        before: &str,
        after: &str,
        result: Result<(), &AcronisError>,
    ) -> Result<(), ProvisioningError> {
        if result.is_ok() {
            self.writes.fetch_add(1, Ordering::Relaxed);
        }
        let entry = self.message.audit_entry(
            PlannedWrite {
                action: action.into(),
                object: object.into(),
                before: before.into(),
                after: after.into(),
            },
            result.map_err(|e| e.to_string()),
        );
        self.ctx
            .worker
            .store
            .put_audit(&self.message.integration_id, &entry)
            .await?;
        Ok(())
    }
}
