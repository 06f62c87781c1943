//! keyfleet <-> akd interop tool.
//!
//! `generate [DIR]`  builds seeded in-memory akd directories (WhatsApp v1 configuration),
//!                   publishes epochs and writes JSON fixtures (lookup, history, audit,
//!                   primitives) into DIR (default: ./fixtures).
//! `bench-publish [ENTRIES] [BATCH] [LOOKUPS]`  times akd's publish and proof generation
//!                   on the workload of test/bench/akd.ts (in-memory storage, one thread).
//! `verify FILE`     reads a JSON list of checks (VRF proofs, labels, commitments, tree
//!                   roots, lookup/history/audit proofs, typically produced by keyfleet's
//!                   TypeScript sdk) and checks each of them with akd, printing one JSON
//!                   result per check. Exit status 1 if any check's outcome differs from
//!                   its `expect` field ("valid" by default).
//!
//! Everything is deterministic: VRF keys are derived from fixed seeds, parallelism is
//! disabled, and the runtime is single-threaded, so regenerating gives identical files.

use akd::append_only_zks::{AzksParallelismConfig, InsertMode};
use akd::ecvrf::{Proof, VRFKeyStorage, VRFPrivateKey, VRFPublicKey, VrfError};
use akd::local_auditing::{AuditBlob, AuditBlobName};
use akd::proto::specs::types as pb;
use akd::storage::memory::AsyncInMemoryDatabase;
use akd::storage::StorageManager;
use akd::{
    AkdLabel, AkdValue, AppendOnlyProof, Azks, AzksElement, AzksValue, Configuration, Directory,
    Direction, HistoryParams, HistoryProof, HistoryVerificationParams, LookupProof, MembershipProof,
    NodeLabel, NonMembershipProof, SingleAppendOnlyProof, VerifyResult, VersionFreshness, WhatsAppV1Configuration,
};
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use protobuf::Message;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::convert::TryFrom;
use std::path::{Path, PathBuf};

type TC = WhatsAppV1Configuration;
type Db = AsyncInMemoryDatabase;
type Dir = Directory<TC, Db, SeededVrf>;
/// Error carrying a message; any `Debug` error converts into it (it is deliberately not
/// `Debug` itself so that the blanket conversion is coherent).
struct AnyError(String);
impl<E: std::fmt::Debug> From<E> for AnyError {
    fn from(e: E) -> Self {
        AnyError(format!("{e:?}"))
    }
}
fn fail(msg: impl Into<String>) -> AnyError {
    AnyError(msg.into())
}

const AKD_VERSION: &str = "0.13.0";

/// A VRF key store holding a fixed 32-byte Ed25519 secret key.
#[derive(Clone)]
struct SeededVrf([u8; 32]);

impl SeededVrf {
    fn from_seed(seed: &str) -> Self {
        SeededVrf(*blake3_hash(format!("keyfleet-interop-vrf/{seed}").as_bytes()).as_bytes())
    }
}

#[async_trait::async_trait]
impl VRFKeyStorage for SeededVrf {
    async fn retrieve(&self) -> Result<Vec<u8>, VrfError> {
        Ok(self.0.to_vec())
    }
}

fn blake3_hash(data: &[u8]) -> Blake3Out {
    Blake3Out(TC::hash(data))
}
struct Blake3Out([u8; 32]);
impl Blake3Out {
    fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }
}

fn b64(bytes: &[u8]) -> String {
    B64.encode(bytes)
}

fn label_json(l: &NodeLabel) -> Value {
    json!({ "label_val": hex::encode(l.label_val), "label_len": l.label_len })
}

fn freshness_str(f: VersionFreshness) -> &'static str {
    match f {
        VersionFreshness::Fresh => "fresh",
        VersionFreshness::Stale => "stale",
    }
}

// ----------------------------------------------------------------------------------------
// Directory scenarios
// ----------------------------------------------------------------------------------------

struct Scenario {
    name: &'static str,
    seed: &'static str,
    vrf: SeededVrf,
    dir: Dir,
    roots: Vec<(u64, [u8; 32])>,
}

impl Scenario {
    async fn new(name: &'static str, seed: &'static str) -> Result<Self, AnyError> {
        let vrf = SeededVrf::from_seed(seed);
        let storage = StorageManager::new_no_cache(Db::new());
        let dir = Dir::new(storage, vrf.clone(), AzksParallelismConfig::disabled()).await?;
        let root0 = dir.get_epoch_hash().await?;
        Ok(Scenario { name, seed, vrf, dir, roots: vec![(root0.epoch(), root0.hash())] })
    }

    async fn publish(&mut self, updates: Vec<(String, String)>) -> Result<(u64, [u8; 32]), AnyError> {
        let updates = updates
            .into_iter()
            .map(|(l, v)| (AkdLabel::from(l.as_str()), AkdValue::from(v.as_str())))
            .collect();
        let eh = self.dir.publish(updates).await?;
        self.roots.push((eh.epoch(), eh.hash()));
        Ok((eh.epoch(), eh.hash()))
    }

    async fn describe(&self) -> Result<Value, AnyError> {
        let pk = self.dir.get_public_key().await?;
        // first (empty tree) and last epoch; every proof record carries its own epoch and root
        let epochs: Vec<Value> = [self.roots.first(), self.roots.last()]
            .iter()
            .flatten()
            .map(|(e, h)| json!({"epoch": e, "root_hash": hex::encode(h)}))
            .collect();
        Ok(json!({
            "name": self.name,
            "seed": self.seed,
            "vrf_private_key": hex::encode(self.vrf.0),
            "vrf_public_key": hex::encode(pk.as_bytes()),
            "commitment_key": hex::encode(TC::hash(&self.vrf.0)),
            "epochs": epochs,
        }))
    }

    async fn lookup(&self, user: &str, note: &str) -> Result<Value, AnyError> {
        let label = AkdLabel::from(user);
        let (proof, eh) = self.dir.lookup(label.clone()).await?;
        let pk = self.dir.get_public_key().await?;
        let res = akd::verify::lookup_verify::<TC>(pk.as_bytes(), eh.hash(), eh.epoch(), label, proof.clone())?;
        let bytes = pb::LookupProof::from(&proof).write_to_bytes()?;
        Ok(record(self.name, user, note, &eh, json!({
            "proof": b64(&bytes),
            "expected": results_json(&[res])[0],
        })))
    }

    async fn history(&self, user: &str, params: HistoryParams, note: &str) -> Result<Value, AnyError> {
        let label = AkdLabel::from(user);
        let (proof, eh) = self.dir.key_history(&label, params).await?;
        let pk = self.dir.get_public_key().await?;
        let res = akd::verify::key_history_verify::<TC>(
            pk.as_bytes(),
            eh.hash(),
            eh.epoch(),
            label,
            proof.clone(),
            HistoryVerificationParams::Default { history_params: params },
        )?;
        let bytes = pb::HistoryProof::from(&proof).write_to_bytes()?;
        Ok(record(self.name, user, note, &eh, json!({
            "params": history_params_json(params),
            "allow_missing_values": false,
            "expect": "valid",
            "proof": b64(&bytes),
            "expected": results_json(&res),
        })))
    }

    /// A history proof whose oldest update's value was replaced by the tombstone (empty value),
    /// as a directory does after it deletes old values. akd accepts it only with
    /// `AllowMissingValues`.
    async fn tombstoned_history(&self, user: &str) -> Result<Vec<Value>, AnyError> {
        let label = AkdLabel::from(user);
        let params = HistoryParams::Complete;
        let (mut proof, eh) = self.dir.key_history(&label, params).await?;
        let last = proof.update_proofs.len() - 1;
        proof.update_proofs[last].value = AkdValue(vec![]);
        let pk = self.dir.get_public_key().await?;
        let mut out = vec![];
        for allow in [true, false] {
            let vp = if allow {
                HistoryVerificationParams::AllowMissingValues { history_params: params }
            } else {
                HistoryVerificationParams::Default { history_params: params }
            };
            let res = akd::verify::key_history_verify::<TC>(pk.as_bytes(), eh.hash(), eh.epoch(), label.clone(), proof.clone(), vp);
            let bytes = pb::HistoryProof::from(&proof).write_to_bytes()?;
            let note = if allow { "oldest value tombstoned, AllowMissingValues" } else { "oldest value tombstoned, Default params must reject" };
            out.push(record(self.name, user, note, &eh, json!({
                "params": history_params_json(params),
                "allow_missing_values": allow,
                "expect": if res.is_ok() { "valid" } else { "invalid" },
                "proof": b64(&bytes),
                "expected": match &res {
                    Ok(r) => results_json(r),
                    Err(e) => json!(format!("{e}")),
                },
            })));
        }
        Ok(out)
    }

    async fn audit(&self, start: u64, end: u64, note: &str) -> Result<Value, AnyError> {
        let proof = self.dir.audit(start, end).await?;
        let hashes: Vec<[u8; 32]> = (start..=end).map(|e| self.root_at(e)).collect();
        akd::auditor::audit_verify::<TC>(hashes.clone(), proof.clone()).await?;
        let bytes = pb::AppendOnlyProof::from(&proof).write_to_bytes()?;
        Ok(json!({
            "directory": self.name,
            "note": note,
            "start_epoch": start,
            "end_epoch": end,
            "root_hashes": hashes.iter().map(hex::encode).collect::<Vec<_>>(),
            "proof": b64(&bytes),
        }))
    }

    /// Audit blobs as akd's local_auditing writes them, one per epoch transition.
    /// NOTE: akd's `generate_audit_blobs` names a blob by the *source* epoch of the
    /// transition; the WhatsApp auditor reads the name as the *end* epoch. We record both.
    async fn audit_blob(&self, end: u64) -> Result<Value, AnyError> {
        let proof = self.dir.audit(end - 1, end).await?;
        let prev = self.root_at(end - 1);
        let cur = self.root_at(end);
        let blob = AuditBlob::new(prev, cur, end, &proof.proofs[0])?;
        let (_, _, _, decoded) = blob.decode()?;
        akd::auditor::verify_consecutive_append_only::<TC>(&decoded, prev, cur, end).await?;
        let name = AuditBlobName { epoch: end, previous_hash: prev, current_hash: cur };
        Ok(json!({
            "directory": self.name,
            "name": name.to_string(),
            "end_epoch": end,
            "previous_hash": hex::encode(prev),
            "current_hash": hex::encode(cur),
            "data": b64(&blob.data),
        }))
    }

    /// A forged lookup proof that presents a superseded version as current. The freshness
    /// proof claims the stale label of that version is absent, using the root as "longest
    /// prefix" and the root's real children - one of which is a prefix of the stale label,
    /// which IS in the tree. akd 0.13's verify_nonmembership does not check that no child is
    /// a prefix of the label, so lookup_verify accepts it; keyfleet's verifier rejects it.
    async fn forged_stale_lookup(&self, user: &str) -> Result<Value, AnyError> {
        let label = AkdLabel::from(user);
        let (history, eh) = self.dir.key_history(&label, HistoryParams::Complete).await?;
        let newest = &history.update_proofs[0];
        let old = &history.update_proofs[1];
        let stale_path = newest.previous_version_proof.clone().ok_or_else(|| fail("no previous version"))?;
        let stale_vrf = newest.previous_version_vrf_proof.clone().ok_or_else(|| fail("no previous vrf"))?;
        // value of the root's child on the stale label's side, hashed up from the leaf
        let mut value = stale_path.hash_val;
        let mut node = stale_path.label;
        for sp in stale_path.sibling_proofs.iter().skip(1).rev() {
            let sib = sp.siblings[0];
            value = match sp.direction {
                Direction::Left => TC::compute_parent_hash_from_children(&value, &node.value::<TC>(), &sib.value, &sib.label.value::<TC>()),
                Direction::Right => TC::compute_parent_hash_from_children(&sib.value, &sib.label.value::<TC>(), &value, &node.value::<TC>()),
            };
            node = sp.label;
        }
        let top = &stale_path.sibling_proofs[0];
        let on_path = AzksElement { label: node, value: AzksValue(value.0) };
        let (left, right) = match top.direction {
            Direction::Left => (on_path, top.siblings[0]),
            Direction::Right => (top.siblings[0], on_path),
        };
        let root_value = TC::compute_parent_hash_from_children(&left.value, &left.label.value::<TC>(), &right.value, &right.label.value::<TC>());
        let forged_freshness = NonMembershipProof {
            label: stale_path.label,
            longest_prefix: NodeLabel::root(),
            longest_prefix_children: [left, right],
            longest_prefix_membership_proof: MembershipProof { label: NodeLabel::root(), hash_val: root_value, sibling_proofs: vec![] },
        };
        // the marker of the old version, from the complete history's proofs
        let marker = 1u64 << (63 - old.version.leading_zeros());
        let marker_update = history.update_proofs.iter().find(|u| u.version == marker).ok_or_else(|| fail("marker not in history"))?;
        let forged = LookupProof {
            epoch: old.epoch,
            value: old.value.clone(),
            version: old.version,
            existence_vrf_proof: old.existence_vrf_proof.clone(),
            existence_proof: old.existence_proof.clone(),
            marker_vrf_proof: marker_update.existence_vrf_proof.clone(),
            marker_proof: marker_update.existence_proof.clone(),
            freshness_vrf_proof: stale_vrf,
            freshness_proof: forged_freshness,
            commitment_nonce: old.commitment_nonce.clone(),
        };
        let pk = self.dir.get_public_key().await?;
        let akd_result = akd::verify::lookup_verify::<TC>(pk.as_bytes(), eh.hash(), eh.epoch(), label, forged.clone());
        let bytes = pb::LookupProof::from(&forged).write_to_bytes()?;
        let note = format!("forged: version {} of {} (superseded by {}) presented as current", old.version, user, newest.version);
        Ok(record(self.name, user, &note, &eh, json!({
            "kind": "lookup",
            "proof": b64(&bytes),
            "akd_0_13_result": match akd_result {
                Ok(r) => json!({"accepted": true, "epoch": r.epoch, "version": r.version, "value": hex::encode(&r.value.0)}),
                Err(e) => json!({"accepted": false, "error": format!("{e}")}),
            },
            "keyfleet_expect": "invalid",
        })))
    }

    fn root_at(&self, epoch: u64) -> [u8; 32] {
        self.roots.iter().rev().find(|(e, _)| *e == epoch).map(|(_, h)| *h).expect("epoch recorded")
    }
}

fn results_json(rs: &[VerifyResult]) -> Value {
    json!(rs.iter().map(|r| json!({"epoch": r.epoch, "version": r.version, "value": hex::encode(&r.value.0)})).collect::<Vec<_>>())
}

/// The fields every proof record shares, merged with the record's own.
fn record(dir: &str, user: &str, note: &str, eh: &akd::EpochHash, rest: Value) -> Value {
    let mut v = json!({
        "directory": dir,
        "note": note,
        "username": hex::encode(user.as_bytes()),
        "username_utf8": user,
        "epoch": eh.epoch(),
        "root_hash": hex::encode(eh.hash()),
    });
    if let (Some(m), Value::Object(r)) = (v.as_object_mut(), rest) {
        m.extend(r);
    }
    v
}

fn history_params_json(p: HistoryParams) -> Value {
    match p {
        HistoryParams::Complete => json!({"kind": "complete"}),
        HistoryParams::MostRecent(n) => json!({"kind": "most_recent", "n": n}),
    }
}

fn meta(kind: &str) -> Value {
    json!({
        "generator": "keyfleet test/interop (Rust, akd crate)",
        "akd_version": AKD_VERSION,
        "configuration": "whatsapp_v1",
        "kind": kind,
        "encoding": "hex for digests/keys/labels; base64 (standard, padded) for protobuf-encoded proofs as akd serialises them (akd_core/src/proto/specs/types.proto)",
    })
}

async fn generate(out: &Path) -> Result<(), AnyError> {
    std::fs::create_dir_all(out)?;
    let mut directories = vec![];
    let mut lookups = vec![];
    let mut histories = vec![];
    let mut audits = vec![];
    let mut blobs = vec![];
    let mut adversarial = vec![];

    // -- Scenario "single": one user, one epoch. The root has a single child, so
    //    non-membership proofs end at the root with an empty placeholder sibling.
    {
        let mut s = Scenario::new("single", "single").await?;
        s.publish(vec![("alice".into(), "alice-key-1".into())]).await?;
        lookups.push(s.lookup("alice", "only user, root has one child").await?);
        histories.push(s.history("alice", HistoryParams::Complete, "single version").await?);
        audits.push(s.audit(0, 1, "empty tree to one user").await?);
        blobs.push(s.audit_blob(1).await?);
        directories.push(s.describe().await?);
    }

    // -- Scenario "sparse": users "1","2","4","8","16"; user k updates at epochs divisible by k.
    {
        let mut s = Scenario::new("sparse", "sparse").await?;
        let users = [1u64, 2, 4, 8, 16];
        for epoch in 1..=20u64 {
            let updates = users
                .iter()
                .filter(|k| epoch % **k == 0)
                .map(|k| (format!("{k}"), format!("{k},{epoch}")))
                .collect();
            s.publish(updates).await?;
            if epoch == 5 {
                lookups.push(s.lookup("1", "version 5 at epoch 5 (marker 4)").await?);
                lookups.push(s.lookup("4", "version 1 at epoch 5").await?);
            }
            if epoch == 12 {
                histories.push(s.history("2", HistoryParams::Complete, "6 versions at epoch 12").await?);
            }
        }
        for k in users {
            lookups.push(s.lookup(&k.to_string(), "final epoch 20").await?);
        }
        histories.push(s.history("1", HistoryParams::Complete, "20 versions, epoch 20").await?);
        histories.push(s.history("1", HistoryParams::MostRecent(3), "most recent 3 of 20").await?);
        histories.push(s.history("4", HistoryParams::MostRecent(1), "most recent 1 of 5").await?);
        histories.push(s.history("8", HistoryParams::MostRecent(5), "most recent 5 of 2 (fewer than asked)").await?);
        histories.push(s.history("16", HistoryParams::Complete, "1 version, epoch 20").await?);
        histories.extend(s.tombstoned_history("4").await?);
        adversarial.push(s.forged_stale_lookup("4").await?);
        audits.push(s.audit(0, 20, "all 20 epochs in one AppendOnlyProof").await?);
        audits.push(s.audit(7, 9, "two transitions mid-history").await?);
        for e in [1u64, 2, 16, 20] {
            blobs.push(s.audit_blob(e).await?);
        }
        directories.push(s.describe().await?);
    }

    // -- Scenario "long": 300 epochs, exercises the marker skip-list (256) and large versions.
    {
        let mut s = Scenario::new("long", "long").await?;
        for epoch in 1..=300u64 {
            let mut updates = vec![("dave".to_string(), format!("dave,{epoch}"))];
            if [1u64, 100, 290].contains(&epoch) {
                updates.push(("carol".into(), format!("carol,{epoch}")));
            }
            if epoch % 7 == 0 {
                updates.push((format!("user{}", epoch % 5), format!("v{epoch}")));
            }
            s.publish(updates).await?;
        }
        lookups.push(s.lookup("dave", "version 300, marker 256").await?);
        lookups.push(s.lookup("carol", "version 3 at epoch 300").await?);
        histories.push(s.history("carol", HistoryParams::Complete, "3 versions, future markers up to 256").await?);
        histories.push(s.history("dave", HistoryParams::MostRecent(2), "versions 299-300, past marker 256").await?);
        audits.push(s.audit(299, 300, "last transition").await?);
        blobs.push(s.audit_blob(300).await?);
        directories.push(s.describe().await?);
    }

    write_json(out, "lookup.json", json!({"meta": meta("lookup"), "directories": directories, "lookups": lookups}))?;
    write_json(out, "history.json", json!({"meta": meta("history"), "directories": directories, "histories": histories}))?;
    write_json(out, "audit.json", json!({"meta": meta("audit"), "directories": directories, "audits": audits, "audit_blobs": blobs}))?;
    write_json(out, "primitives.json", primitives().await?)?;
    write_json(out, "adversarial.json", json!({"meta": meta("adversarial"), "directories": directories, "proofs": adversarial}))?;
    Ok(())
}

/// VRF vectors, node labels, commitments and tree roots computed by akd.
async fn primitives() -> Result<Value, AnyError> {
    // RFC 9381 section B.3 inputs, run through akd's ECVRF.
    let rfc = [
        ("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60", ""),
        ("4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb", "72"),
        ("c5aa8df43f9f837bedb7442f31dcb7b166d38535076f094b85ce3a2e0b4458f7", "af82"),
    ];
    let mut vrf = vec![];
    for (sk_hex, alpha_hex) in rfc {
        let sk = hex::decode(sk_hex)?;
        let key = VRFPrivateKey::try_from(sk.as_slice())?;
        let pk = VRFPublicKey::from(&key);
        let alpha = hex::decode(alpha_hex)?;
        let proof = key.prove(&alpha);
        pk.verify(&proof, &alpha)?;
        let label = SeededVrf(sk.clone().try_into().unwrap()).get_node_label_from_vrf_proof(proof).await;
        vrf.push(json!({
            "sk": sk_hex, "pk": hex::encode(pk.as_bytes()), "alpha": alpha_hex,
            "pi": hex::encode(proof.to_bytes()), "beta_prefix32": hex::encode(label.label_val),
        }));
    }

    // Node labels: akd's label derivation through the VRF for a seeded key.
    let store = SeededVrf::from_seed("sparse");
    let mut labels = vec![];
    for (user, version, fresh) in [
        ("alice", 1u64, VersionFreshness::Fresh),
        ("alice", 1, VersionFreshness::Stale),
        ("alice", 2, VersionFreshness::Fresh),
        ("", 1, VersionFreshness::Fresh),
        ("\u{00e9}l\u{00e8}ve", 7, VersionFreshness::Fresh),
        ("bob", 4294967296, VersionFreshness::Fresh),
        ("bob", u64::MAX, VersionFreshness::Stale),
    ] {
        let label = AkdLabel::from(user);
        let node_label = store.get_node_label::<TC>(&label, fresh, version).await?;
        let proof = store.get_label_proof::<TC>(&label, fresh, version).await?;
        labels.push(json!({
            "username": hex::encode(user.as_bytes()), "version": version.to_string(), "freshness": freshness_str(fresh),
            "vrf_input": hex::encode(TC::get_hash_from_label_input(&label, fresh, version)),
            "label": label_json(&node_label), "vrf_proof": hex::encode(proof.to_bytes()),
        }));
    }

    // Commitments: commitment key = blake3(VRF secret key).
    let ck = TC::hash(&store.0);
    let mut commitments = vec![];
    for (i, (user, version, value)) in [("alice", 1u64, "key-1"), ("alice", 2, ""), ("bob", 300, "x")].iter().enumerate() {
        let node_label = store.get_node_label::<TC>(&AkdLabel::from(*user), VersionFreshness::Fresh, *version).await?;
        let v = AkdValue::from(*value);
        let nonce = TC::get_commitment_nonce(&ck, &node_label, *version, &v);
        let commitment = TC::compute_fresh_azks_value(&ck, &node_label, *version, &v);
        let epoch = 10 + i as u64;
        commitments.push(json!({
            "commitment_key": hex::encode(ck), "label": label_json(&node_label), "version": version.to_string(),
            "value": hex::encode(value.as_bytes()), "nonce": hex::encode(nonce), "commitment": hex::encode(commitment.0),
            "epoch": epoch.to_string(),
            "leaf_hash": hex::encode(TC::hash_leaf_with_value(&v, epoch, &nonce).0),
        }));
    }

    // Trees: batches of leaves inserted at epochs 1, 2, ...; akd's root hash after each.
    let mut trees = vec![];
    for (t, sizes) in [vec![1usize], vec![2, 1], vec![5, 3, 8], vec![40, 1, 17]].iter().enumerate() {
        let storage = StorageManager::new_no_cache(Db::new());
        let mut azks = Azks::new::<TC, _>(&storage).await?;
        let empty_root = azks.get_root_hash::<TC, _>(&storage).await?;
        let mut batches = vec![];
        let mut n = 0u64;
        for size in sizes {
            let mut leaves = vec![];
            let mut elements = vec![];
            for _ in 0..*size {
                let mut val = *blake3_hash(format!("tree{t}/label{n}").as_bytes()).as_bytes();
                if n % 3 == 1 {
                    // force long shared prefixes with the previous label
                    let prev = *blake3_hash(format!("tree{t}/label{}", n - 1).as_bytes()).as_bytes();
                    val[..20].copy_from_slice(&prev[..20]);
                }
                let label = NodeLabel::new(val, 256);
                let value = AzksValue(TC::hash(format!("tree{t}/value{n}").as_bytes()));
                leaves.push(json!({"label": label_json(&label), "commitment": hex::encode(value.0)}));
                elements.push(AzksElement { label, value });
                n += 1;
            }
            azks.batch_insert_nodes::<TC, _>(&storage, elements, InsertMode::Directory, AzksParallelismConfig::disabled())
                .await?;
            let root = azks.get_root_hash::<TC, _>(&storage).await?;
            batches.push(json!({"epoch": azks.get_latest_epoch(), "leaves": leaves, "root_hash": hex::encode(root)}));
        }
        trees.push(json!({"empty_root_hash": hex::encode(empty_root), "batches": batches}));
    }

    Ok(json!({
        "meta": meta("primitives"),
        "constants": {
            "empty_root_value": hex::encode(TC::empty_root_value().0),
            "empty_node_hash": hex::encode(TC::empty_node_hash().0),
            "stale_azks_value": hex::encode(TC::stale_azks_value().0),
            "empty_label": label_json(&TC::empty_label()),
            "root_label_value": hex::encode(NodeLabel::root().value::<TC>()),
            "empty_tree_root_hash": hex::encode(TC::compute_root_hash_from_val(&TC::empty_root_value())),
        },
        "vrf": vrf,
        "labels": labels,
        "commitments": commitments,
        "trees": trees,
    }))
}

fn write_json(dir: &Path, name: &str, v: Value) -> Result<(), AnyError> {
    let path = dir.join(name);
    let mut s = serde_json::to_string_pretty(&v)?;
    s.push('\n');
    std::fs::write(&path, s)?;
    eprintln!("wrote {}", path.display());
    Ok(())
}

// ----------------------------------------------------------------------------------------
// verify: check artefacts produced elsewhere (keyfleet's TypeScript sdk) with akd
// ----------------------------------------------------------------------------------------

fn hx(v: &Value, k: &str) -> Result<Vec<u8>, AnyError> {
    Ok(hex::decode(v[k].as_str().ok_or_else(|| fail(format!("missing hex field {k}")))?)?)
}
fn digest(v: &Value, k: &str) -> Result<[u8; 32], AnyError> {
    hx(v, k)?.try_into().map_err(|_| fail(format!("field {k} is not 32 bytes")))
}
fn u64f(v: &Value, k: &str) -> Result<u64, AnyError> {
    match &v[k] {
        Value::Number(n) => n.as_u64().ok_or_else(|| fail(format!("field {k} not u64"))),
        Value::String(s) => Ok(s.parse()?),
        _ => Err(fail(format!("missing u64 field {k}"))),
    }
}
fn b64f(v: &Value, k: &str) -> Result<Vec<u8>, AnyError> {
    Ok(B64.decode(v[k].as_str().ok_or_else(|| fail(format!("missing base64 field {k}")))?)?)
}
fn node_label(v: &Value) -> Result<NodeLabel, AnyError> {
    let val: [u8; 32] = hx(v, "label_val")?.try_into().map_err(|_| "label_val not 32 bytes")?;
    Ok(NodeLabel::new(val, u64f(v, "label_len")? as u32))
}
fn freshness(v: &Value) -> Result<VersionFreshness, AnyError> {
    match v["freshness"].as_str() {
        Some("fresh") => Ok(VersionFreshness::Fresh),
        Some("stale") => Ok(VersionFreshness::Stale),
        _ => Err(fail("freshness must be fresh|stale")),
    }
}
fn history_params(v: &Value) -> Result<HistoryParams, AnyError> {
    match v["kind"].as_str() {
        Some("complete") => Ok(HistoryParams::Complete),
        Some("most_recent") => Ok(HistoryParams::MostRecent(u64f(v, "n")? as usize)),
        _ => Err(fail("params.kind must be complete|most_recent")),
    }
}

async fn check_one(c: &Value) -> Result<Value, AnyError> {
    match c["kind"].as_str().unwrap_or("") {
        "vrf" => {
            let pk = VRFPublicKey::try_from(hx(c, "pk")?.as_slice())?;
            let pi = hx(c, "pi")?;
            let proof = Proof::try_from(pi.as_slice())?;
            pk.verify(&proof, &hx(c, "alpha")?)?;
            let label = SeededVrf([0u8; 32]).get_node_label_from_vrf_proof(proof).await;
            if let Some(beta) = c["beta"].as_str() {
                if !beta.starts_with(&hex::encode(label.label_val)) {
                    return Err(fail("VRF output differs"));
                }
            }
            Ok(json!({"beta_prefix32": hex::encode(label.label_val)}))
        }
        "label" => {
            let sk: [u8; 32] = hx(c, "sk")?.try_into().map_err(|_| "sk not 32 bytes")?;
            let store = SeededVrf(sk);
            let user = AkdLabel(hx(c, "username")?);
            let f = freshness(c)?;
            let version = u64f(c, "version")?;
            let got = store.get_node_label::<TC>(&user, f, version).await?;
            let proof = store.get_label_proof::<TC>(&user, f, version).await?;
            if got != node_label(&c["label"])? {
                return Err(fail(format!("label differs: akd {}", hex::encode(got.label_val))));
            }
            if let Some(p) = c["vrf_proof"].as_str() {
                if p != hex::encode(proof.to_bytes()) {
                    return Err(fail("VRF proof bytes differ"));
                }
            }
            Ok(json!({}))
        }
        "commitment" => {
            let ck = hx(c, "commitment_key")?;
            let label = node_label(&c["label"])?;
            let version = u64f(c, "version")?;
            let value = AkdValue(hx(c, "value")?);
            let nonce = TC::get_commitment_nonce(&ck, &label, version, &value);
            let commitment = TC::compute_fresh_azks_value(&ck, &label, version, &value);
            if hex::encode(nonce) != c["nonce"].as_str().unwrap_or("") {
                return Err(fail("nonce differs"));
            }
            if hex::encode(commitment.0) != c["commitment"].as_str().unwrap_or("") {
                return Err(fail("commitment differs"));
            }
            Ok(json!({}))
        }
        "tree" => {
            let storage = StorageManager::new_no_cache(Db::new());
            let mut azks = Azks::new::<TC, _>(&storage).await?;
            let mut roots = vec![];
            for batch in c["batches"].as_array().ok_or("batches missing")? {
                let mut elements = vec![];
                for leaf in batch["leaves"].as_array().ok_or("leaves missing")? {
                    elements.push(AzksElement {
                        label: node_label(&leaf["label"])?,
                        value: AzksValue(digest(leaf, "commitment")?),
                    });
                }
                azks.batch_insert_nodes::<TC, _>(&storage, elements, InsertMode::Directory, AzksParallelismConfig::disabled())
                    .await?;
                let root = hex::encode(azks.get_root_hash::<TC, _>(&storage).await?);
                if root != batch["root_hash"].as_str().unwrap_or("") {
                    return Err(fail(format!("root hash after epoch {} differs: akd {root}", azks.get_latest_epoch())));
                }
                roots.push(root);
            }
            Ok(json!({"roots": roots}))
        }
        "lookup" => {
            let proof = LookupProof::try_from(&pb::LookupProof::parse_from_bytes(&b64f(c, "proof")?)?)?;
            let r = akd::verify::lookup_verify::<TC>(
                &hx(c, "vrf_public_key")?,
                digest(c, "root_hash")?,
                u64f(c, "epoch")?,
                AkdLabel(hx(c, "username")?),
                proof,
            )?;
            Ok(results_json(&[r])[0].clone())
        }
        "history" => {
            let proof = HistoryProof::try_from(&pb::HistoryProof::parse_from_bytes(&b64f(c, "proof")?)?)?;
            let params = history_params(&c["params"])?;
            let vp = if c["allow_missing_values"].as_bool().unwrap_or(false) {
                HistoryVerificationParams::AllowMissingValues { history_params: params }
            } else {
                HistoryVerificationParams::Default { history_params: params }
            };
            let r = akd::verify::key_history_verify::<TC>(
                &hx(c, "vrf_public_key")?,
                digest(c, "root_hash")?,
                u64f(c, "epoch")?,
                AkdLabel(hx(c, "username")?),
                proof,
                vp,
            )?;
            Ok(results_json(&r))
        }
        "audit" => {
            let proof = AppendOnlyProof::try_from(&pb::AppendOnlyProof::parse_from_bytes(&b64f(c, "proof")?)?)?;
            let mut hashes = vec![];
            for h in c["root_hashes"].as_array().ok_or("root_hashes missing")? {
                let d: [u8; 32] = hex::decode(h.as_str().ok_or("root hash not a string")?)?
                    .try_into()
                    .map_err(|_| "root hash not 32 bytes")?;
                hashes.push(d);
            }
            akd::auditor::audit_verify::<TC>(hashes, proof).await?;
            Ok(json!({}))
        }
        "audit_blob" => {
            let proof = SingleAppendOnlyProof::try_from(&pb::SingleAppendOnlyProof::parse_from_bytes(&b64f(c, "data")?)?)?;
            akd::auditor::verify_consecutive_append_only::<TC>(
                &proof,
                digest(c, "previous_hash")?,
                digest(c, "current_hash")?,
                u64f(c, "end_epoch")?,
            )
            .await?;
            Ok(json!({}))
        }
        other => Err(fail(format!("unknown check kind '{other}'"))),
    }
}

async fn verify(path: &Path) -> Result<bool, AnyError> {
    let input: Value = serde_json::from_str(&std::fs::read_to_string(path)?)?;
    let checks = input["checks"].as_array().ok_or("input must be {\"checks\": [...]}")?;
    let mut all_as_expected = true;
    let mut counts: BTreeMap<&str, u64> = BTreeMap::new();
    for (i, c) in checks.iter().enumerate() {
        let expect = c["expect"].as_str().unwrap_or("valid");
        let (outcome, detail) = match check_one(c).await {
            Ok(v) => ("valid", v),
            Err(e) => ("invalid", json!(e.0)),
        };
        let as_expected = outcome == expect;
        all_as_expected &= as_expected;
        *counts.entry(if as_expected { "as_expected" } else { "unexpected" }).or_default() += 1;
        println!(
            "{}",
            json!({"index": i, "id": c["id"], "kind": c["kind"], "expect": expect, "akd": outcome, "as_expected": as_expected, "detail": detail})
        );
    }
    eprintln!("akd checked {} items: {:?}", checks.len(), counts);
    Ok(all_as_expected)
}

/// Times akd's verifiers on the committed fixtures (same workload as test/bench/akd.ts).
/// Prints one JSON line per figure: {"name", "ms", "cpu_ms"} (means per verification).
async fn bench(dir: &Path) -> Result<bool, AnyError> {
    let load = |name: &str| -> Result<Value, AnyError> {
        Ok(serde_json::from_str(&std::fs::read_to_string(dir.join(name))?)?)
    };
    let pk_of = |v: &Value, name: &str| -> Result<Vec<u8>, AnyError> {
        let d = v["directories"].as_array().ok_or("no directories")?.iter().find(|d| d["name"] == name).ok_or("no directory")?;
        hx(d, "vrf_public_key")
    };
    let time = |name: String, iters: u32, f: &mut dyn FnMut() -> Result<(), AnyError>| -> Result<(), AnyError> {
        f()?;
        let (t, c) = (std::time::Instant::now(), cpu_seconds());
        for _ in 0..iters {
            f()?;
        }
        let ms = t.elapsed().as_secs_f64() * 1000.0 / iters as f64;
        let cpu_ms = (cpu_seconds() - c) * 1000.0 / iters as f64;
        println!("{}", json!({"name": name, "ms": ms, "cpu_ms": cpu_ms}));
        Ok(())
    };
    let prim = load("primitives.json")?;
    let v0 = &prim["vrf"][0];
    let key = VRFPrivateKey::try_from(hx(v0, "sk")?.as_slice())?;
    let vpk = VRFPublicKey::from(&key);
    let alpha = hx(v0, "alpha")?;
    time("vrf prove".into(), 200, &mut || { key.prove(&alpha); Ok(()) })?;
    let proof = key.prove(&alpha);
    time("vrf verify".into(), 200, &mut || Ok(vpk.verify(&proof, &alpha)?))?;

    let lk = load("lookup.json")?;
    for f in lk["lookups"].as_array().ok_or("no lookups")? {
        let pk = pk_of(&lk, f["directory"].as_str().unwrap_or(""))?;
        let bytes = b64f(f, "proof")?;
        let p = LookupProof::try_from(&pb::LookupProof::parse_from_bytes(&bytes)?)?;
        let (root, epoch, user) = (digest(f, "root_hash")?, u64f(f, "epoch")?, AkdLabel(hx(f, "username")?));
        let name = format!("lookup verify {} {} v{}", f["directory"].as_str().unwrap_or(""), f["username_utf8"].as_str().unwrap_or(""), f["expected"]["version"]);
        time(name, 50, &mut || { akd::verify::lookup_verify::<TC>(&pk, root, epoch, user.clone(), p.clone())?; Ok(()) })?;
    }
    let hi = load("history.json")?;
    for f in hi["histories"].as_array().ok_or("no histories")? {
        if f["expect"] != "valid" || f["allow_missing_values"] == true {
            continue;
        }
        let pk = pk_of(&hi, f["directory"].as_str().unwrap_or(""))?;
        let p = HistoryProof::try_from(&pb::HistoryProof::parse_from_bytes(&b64f(f, "proof")?)?)?;
        let params = history_params(&f["params"])?;
        let (root, epoch, user) = (digest(f, "root_hash")?, u64f(f, "epoch")?, AkdLabel(hx(f, "username")?));
        let name = format!("history verify {} {} {}", f["directory"].as_str().unwrap_or(""), f["username_utf8"].as_str().unwrap_or(""), f["note"].as_str().unwrap_or(""));
        time(name, 10, &mut || {
            akd::verify::key_history_verify::<TC>(&pk, root, epoch, user.clone(), p.clone(), HistoryVerificationParams::Default { history_params: params })?;
            Ok(())
        })?;
    }
    let au = load("audit.json")?;
    for f in au["audits"].as_array().ok_or("no audits")? {
        let p = AppendOnlyProof::try_from(&pb::AppendOnlyProof::parse_from_bytes(&b64f(f, "proof")?)?)?;
        let mut hashes = vec![];
        for h in f["root_hashes"].as_array().ok_or("no hashes")? {
            let d: [u8; 32] = hex::decode(h.as_str().unwrap_or(""))?.try_into().map_err(|_| fail("bad hash"))?;
            hashes.push(d);
        }
        let name = format!("audit verify {} {}..{}", f["directory"].as_str().unwrap_or(""), f["start_epoch"], f["end_epoch"]);
        // audit_verify is async; run it to completion on this runtime per iteration
        let iters = 20u32;
        akd::auditor::audit_verify::<TC>(hashes.clone(), p.clone()).await?;
        let (t, c) = (std::time::Instant::now(), cpu_seconds());
        for _ in 0..iters {
            akd::auditor::audit_verify::<TC>(hashes.clone(), p.clone()).await?;
        }
        let cpu_ms = (cpu_seconds() - c) * 1000.0 / iters as f64;
        println!("{}", json!({"name": name, "ms": t.elapsed().as_secs_f64() * 1000.0 / iters as f64, "cpu_ms": cpu_ms}));
    }
    Ok(true)
}

/// Peak resident memory of this process (VmHWM), in MiB; 0 where /proc is not there.
fn peak_rss_mib() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| s.lines().find(|l| l.starts_with("VmHWM:")).map(str::to_owned))
        .and_then(|l| l.split_whitespace().nth(1).and_then(|kb| kb.parse::<f64>().ok()))
        .map_or(0.0, |kb| kb / 1024.0)
}

/// CPU time (user + system, all threads) of this process so far, in seconds.
fn cpu_seconds() -> f64 {
    let mut t = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: clock_gettime writes only into the timespec it is given.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_PROCESS_CPUTIME_ID, &mut t) };
    if rc != 0 {
        return 0.0;
    }
    t.tv_sec as f64 + t.tv_nsec as f64 / 1e9
}

/// The directory workload of test/bench/akd.ts run by akd 0.13 itself (in-memory storage,
/// parallelism disabled: one thread, VRF included): publish `entries` new users in epochs of
/// `batch`, then one epoch rotating `batch` existing users, then `lookups` lookup proofs and a
/// key-history proof of a user with 5 versions. Prints one JSON line per figure:
/// {"name", "value", "unit", "cpu_ms"?}.
async fn bench_publish(entries: usize, batch: usize, lookups: usize) -> Result<bool, AnyError> {
    let vrf = SeededVrf::from_seed("bench-publish");
    let dir = Dir::new(StorageManager::new_no_cache(Db::new()), vrf, AzksParallelismConfig::disabled()).await?;
    let user = |i: usize| AkdLabel::from(format!("user-{i}@example.com").as_str());
    let emit = |name: String, value: f64, unit: &str, cpu_ms: Option<f64>| {
        println!("{}", json!({"name": name, "value": value, "unit": unit, "cpu_ms": cpu_ms}));
    };
    let mut users = 0usize;
    while users < entries {
        let n = batch.min(entries - users);
        let updates = (users..users + n).map(|i| (user(i), AkdValue::from(format!("key-1-{i}").as_str()))).collect();
        let (t, c) = (std::time::Instant::now(), cpu_seconds());
        dir.publish(updates).await?;
        let (secs, cpu) = (t.elapsed().as_secs_f64(), cpu_seconds() - c);
        emit(format!("publish {n} new users into {users}"), n as f64 / secs, "updates/s", Some(cpu * 1000.0 / n as f64));
        users += n;
    }
    let stride = (users / batch).max(1);
    let rotated: Vec<usize> = (0..batch.min(users)).map(|k| (k * stride) % users).collect();
    let updates = rotated.iter().map(|&i| (user(i), AkdValue::from(format!("key-2-{i}").as_str()))).collect();
    let (t, c) = (std::time::Instant::now(), cpu_seconds());
    dir.publish(updates).await?;
    let (secs, cpu) = (t.elapsed().as_secs_f64(), cpu_seconds() - c);
    let n = rotated.len();
    emit(format!("rotate {n} existing users at {users}"), n as f64 / secs, "updates/s", Some(cpu * 1000.0 / n as f64));

    let (t, c) = (std::time::Instant::now(), cpu_seconds());
    for k in 0..lookups {
        dir.lookup(user((k * 7919) % users)).await?;
    }
    let (secs, cpu) = (t.elapsed().as_secs_f64(), cpu_seconds() - c);
    emit(format!("lookup proof generation at {users}"), secs * 1000.0 / lookups as f64, "ms", Some(cpu * 1000.0 / lookups as f64));

    let target = user(0);
    for v in 2..=5 {
        dir.publish(vec![(target.clone(), AkdValue::from(format!("rotated-{v}").as_str()))]).await?;
    }
    let (t, c) = (std::time::Instant::now(), cpu_seconds());
    for _ in 0..10 {
        dir.key_history(&target, HistoryParams::Complete).await?;
    }
    let (secs, cpu) = (t.elapsed().as_secs_f64(), cpu_seconds() - c);
    emit("history proof generation (5 versions)".into(), secs * 100.0, "ms", Some(cpu * 100.0));
    emit("peak RSS".into(), peak_rss_mib(), "MiB", None);
    Ok(true)
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("generate") | None => {
            let out = args.get(1).map(PathBuf::from).unwrap_or_else(|| PathBuf::from("fixtures"));
            generate(&out).await.map(|_| true)
        }
        Some("verify") => match args.get(1) {
            Some(p) => verify(Path::new(p)).await,
            None => Err(fail("usage: keyfleet-akd-interop verify CHECKS.json")),
        },
        Some("bench") => bench(&args.get(1).map(PathBuf::from).unwrap_or_else(|| PathBuf::from("fixtures"))).await,
        Some("bench-publish") => {
            let num = |i: usize, default: usize| args.get(i).and_then(|a| a.parse::<usize>().ok()).filter(|&n| n > 0).unwrap_or(default);
            bench_publish(num(1, 20_000), num(2, 10_000), num(3, 50)).await
        }
        Some(other) => Err(fail(format!(
            "unknown command '{other}' (generate [DIR] | verify FILE | bench [DIR] | bench-publish [ENTRIES] [BATCH] [LOOKUPS])"
        ))),
    };
    match result {
        Ok(true) => {}
        Ok(false) => std::process::exit(1),
        Err(e) => {
            eprintln!("error: {}", e.0);
            std::process::exit(2);
        }
    }
}
