//! `POST /schematics` and `GET /schematics/<id>`: registration and the read-back.

use super::*;

/// `POST /schematics`: the answer a test set, or the fixture's ID; kept for the read-back.
pub(super) fn register(r: &Request, out: &mut Out) -> std::io::Result<()> {
    let Request { b, state, .. } = *r;
    let answer = b
        .register_answer
        .clone()
        .unwrap_or_else(|| format!(r#"{{"id":"{APPLIANCE_ID}"}}"#));
    state.posts.fetch_add(1, Ordering::SeqCst);
    if let Ok(parsed) = serde_json::from_str::<serde_json::Value>(&answer)
        && let Some(id) = parsed.get("id").and_then(|id| id.as_str())
        && let Some(canonical) = canonical_for(id, &parsed)
    {
        state
            .schematics
            .lock()
            .unwrap()
            .insert(id.to_string(), canonical);
    }
    respond(
        out,
        "201 Created",
        &[("Content-Type", "application/json")],
        answer.as_bytes(),
    )
}

/// `GET /schematics/<id>`: the canonical YAML kept for it.
pub(super) fn stored_schematic(r: &Request, out: &mut Out) -> std::io::Result<()> {
    let Request { state, path, .. } = *r;
    let p = path;
    let id = &p["/schematics/".len()..];
    match state.schematics.lock().unwrap().get(id) {
        Some(canonical) => respond(out, "200 OK", &[], canonical),
        None => respond(out, "404 Not Found", &[], b"schematic not found"),
    }
}
