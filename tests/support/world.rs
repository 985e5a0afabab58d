//! A small, readable world for reconcile tests: a directory with a `staff` syncing group and an
//! `admins` group, and an intranet with a `Sysadmins` group. Tests add people and accounts.

use std::collections::BTreeMap;

use roster::config::{
    AdminRole, Config, DirectoryConfig, DisabledRule, IntranetConfig, Mapping, Policy, RoleMembers,
    SourceConfig,
};
use roster::model::{Account, AttrValue, DirectoryState, Entry, Group, IntranetState};
use roster::plan::{Action, Change, Inputs, Plan};
use roster::reconcile::{self, Conflict};

pub const STAFF: &str = "cn=staff,ou=groups,dc=example,dc=com";
pub const ADMINS: &str = "cn=admins,ou=groups,dc=example,dc=com";
pub const SYSADMINS_ID: &str = "g-sysadmins";

pub fn dn(uid: &str) -> String {
    format!("uid={uid},ou=people,dc=example,dc=com")
}

pub fn config() -> Config {
    let mut field_mappings = BTreeMap::new();
    field_mappings.insert("first_name".into(), Mapping::Simple("givenName".into()));
    field_mappings.insert("email".into(), Mapping::Simple("mail".into()));
    // Few people here have a title: allowed to be empty everywhere.
    field_mappings.insert(
        "job_title".into(),
        Mapping::Detailed(roster::config::DetailedMapping {
            from: "title".into(),
            lowercase: false,
            trim: false,
            allow_empty: true,
        }),
    );
    let mut admin_roles = BTreeMap::new();
    admin_roles.insert(
        "sysadmin".into(),
        AdminRole {
            intranet_group: "Sysadmins".into(),
            members: RoleMembers {
                // Tests start with nobody in it.
                groups: vec![roster::config::GroupRef::Detailed(
                    roster::config::DetailedGroup {
                        group: ADMINS.into(),
                        allow_empty: true,
                    },
                )],
                users: vec![],
            },
        },
    );
    Config {
        version: 1,
        directory: DirectoryConfig {
            source: SourceConfig::Ldif("d.ldif".into()),
            id_attribute: Some("entryUUID".into()),
            username_attribute: Some("uid".into()),
            disabled: Some(DisabledRule::Attribute("pwdAccountLockedTime".into())),
        },
        intranet: IntranetConfig {
            snapshot: Some("i.json".into()),
            scim: None,
        },
        syncing_groups: vec![STAFF.into()],
        field_mappings,
        admin_roles,
        policy: Policy::default(),
        state: None,
    }
}

/// The account a person would get: same username, ID, and fields.
pub fn fields_of(uid: &str) -> roster::model::Fields {
    let mut f = roster::model::Fields::default();
    f.insert("first_name", capitalise(uid));
    f.insert("email", format!("{uid}@example.com"));
    f
}

fn capitalise(s: &str) -> String {
    let mut c = s.chars();
    c.next()
        .map(|f| f.to_uppercase().collect::<String>() + c.as_str())
        .unwrap_or_default()
}

pub struct World {
    pub config: Config,
    pub dir: DirectoryState,
    pub intranet: IntranetState,
}

impl Default for World {
    fn default() -> Self {
        let mut staff = Entry::new(STAFF);
        staff.add("objectClass", AttrValue::Text("groupOfNames".into()));
        let mut admins = Entry::new(ADMINS);
        admins.add("objectClass", AttrValue::Text("groupOfNames".into()));
        World {
            config: config(),
            dir: DirectoryState {
                users: vec![],
                groups: vec![staff, admins],
                disabled_by_filter: None,
                warnings: vec![],
                identity: Default::default(),
                unread_groups: Default::default(),
            },
            intranet: IntranetState {
                accounts: vec![],
                groups: vec![Group {
                    id: SYSADMINS_ID.into(),
                    display_name: "Sysadmins".into(),
                    members: vec![],
                    etag: None,
                }],
            },
        }
    }
}

impl World {
    /// A directory person `uid` with ID `id`, in the staff group.
    pub fn person(self, uid: &str, id: &str) -> Self {
        self.person_with(uid, id, |_| {})
    }

    /// A directory person, adjusted by `f` (it is in the staff group unless `f` says otherwise).
    pub fn person_with(mut self, uid: &str, id: &str, f: impl FnOnce(&mut Entry)) -> Self {
        let mut e = Entry::new(dn(uid));
        e.add("objectClass", AttrValue::Text("inetOrgPerson".into()));
        e.add("uid", AttrValue::Text(uid.into()));
        e.add("entryUUID", AttrValue::Text(id.into()));
        e.add("givenName", AttrValue::Text(capitalise(uid)));
        e.add("mail", AttrValue::Text(format!("{uid}@example.com")));
        self.member_of(STAFF, &dn(uid));
        f(&mut e);
        self.dir.users.push(e);
        self
    }

    /// Add `member` to the directory group `group`.
    pub fn member_of(&mut self, group: &str, member: &str) {
        self.group(group)
            .add("member", AttrValue::Text(member.into()));
    }

    fn group(&mut self, dn: &str) -> &mut Entry {
        self.dir
            .groups
            .iter_mut()
            .find(|g| g.dn() == dn)
            .expect("known group")
    }

    pub fn leave(mut self, group: &str, uid: &str) -> Self {
        let member = dn(uid);
        self.group(group)
            .retain("member", |v| v.as_text() != Some(member.as_str()));
        self
    }

    pub fn admin(mut self, uid: &str) -> Self {
        self.member_of(ADMINS, &dn(uid));
        self
    }

    /// A managed account for `uid` (ID `id`), matching the directory.
    pub fn account(self, uid: &str, id: &str) -> Self {
        self.account_with(uid, Some(id), |_| {})
    }

    pub fn account_with(
        mut self,
        username: &str,
        ext: Option<&str>,
        f: impl FnOnce(&mut Account),
    ) -> Self {
        let mut a = Account {
            id: format!("scim-{username}"),
            username: username.into(),
            external_id: ext.map(str::to_owned),
            active: true,
            fields: fields_of(username),
            etag: Some("W/\"1\"".into()),
        };
        f(&mut a);
        self.intranet.accounts.push(a);
        self
    }

    pub fn sysadmin(mut self, username: &str) -> Self {
        let id = self
            .intranet
            .accounts
            .iter()
            .find(|a| a.username == username)
            .expect("known account")
            .id
            .clone();
        self.intranet.groups[0].members.push(id);
        self
    }

    pub fn policy(mut self, f: impl FnOnce(&mut Policy)) -> Self {
        f(&mut self.config.policy);
        self
    }

    pub fn reconcile(&self) -> Result<reconcile::Outcome, Vec<Conflict>> {
        let desired = reconcile::desired::compute(&self.config, &self.dir);
        reconcile::reconcile(&desired, &self.intranet, None, &self.config.policy)
    }

    pub fn plan(&self) -> Plan {
        let out = self
            .reconcile()
            .unwrap_or_else(|c| panic!("conflicts: {c:#?}"));
        Plan::new(Inputs::default(), out.warnings, out.changes)
    }

    pub fn conflicts(&self) -> Vec<Conflict> {
        match self.reconcile() {
            Ok(out) => panic!("expected conflicts, got a plan: {:#?}", out.changes),
            Err(c) => c,
        }
    }
}

/// Carry out `plan` on `state` with the real executor (`roster::apply::apply`) against the
/// intranet in memory: the intranet after it, and the outcome of every change.
pub fn apply_in_memory(
    state: &IntranetState,
    plan: &Plan,
) -> (IntranetState, roster::apply::ApplyReport) {
    let target = roster::intranet::memory::MemoryTarget::new(state.clone());
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .expect("a runtime");
    let report = runtime.block_on(roster::apply::apply(&target, plan, state));
    (target.state(), report)
}

/// The changes as `(action, username)`, in plan order.
pub fn actions(plan: &Plan) -> Vec<(Action, String)> {
    plan.changes
        .iter()
        .map(|c: &Change| (c.action, c.username.clone()))
        .collect()
}

/// A JSON plan's changes as `(action, username)`, sorted.
pub fn json_actions(plan: &serde_json::Value) -> Vec<(String, String)> {
    let mut v: Vec<(String, String)> = plan["changes"]
        .as_array()
        .expect("changes")
        .iter()
        .map(|c| {
            (
                c["action"].as_str().unwrap_or("").to_owned(),
                c["username"].as_str().unwrap_or("").to_owned(),
            )
        })
        .collect();
    v.sort();
    v
}
