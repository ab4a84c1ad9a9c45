//! JSON shapes of Discord objects, built the way Discord sends them (ids as strings,
//! RFC 3339 timestamps, every field serenity 0.12.5 requires present).

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::{Map, Value, json};

use super::DcUser;

/// Discord's epoch (2015-01-01T00:00:00Z) in Unix milliseconds; snowflakes count from it.
pub const DISCORD_EPOCH_MS: u64 = 1_420_070_400_000;

/// Permissions reported for the bot and for users in guilds (everything a normal member
/// has, as a decimal string like Discord sends it).
pub(crate) const MEMBER_PERMISSIONS: &str = "2248473465835073";

/// Attachment size limit reported in interactions (10 MiB, Discord's default).
pub(crate) const ATTACHMENT_SIZE_LIMIT: u64 = 10 * 1024 * 1024;

pub(crate) fn unix_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// The snowflake for "now" with the low 22 bits zero; callers make ids unique.
pub(crate) fn snowflake_now() -> u64 {
    unix_ms().saturating_sub(DISCORD_EPOCH_MS) << 22
}

/// `2024-05-01T12:34:56.789000+00:00`, the way Discord writes timestamps.
pub(crate) fn rfc3339(unix_ms: u64) -> String {
    let secs = unix_ms / 1000;
    let micros = (unix_ms % 1000) * 1000;
    let days = i64::try_from(secs / 86_400).unwrap_or(0);
    let rem = secs % 86_400;
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{micros:06}+00:00",
        rem / 3600,
        (rem % 3600) / 60,
        rem % 60
    )
}

/// Days since 1970-01-01 to a proleptic Gregorian date (Howard Hinnant's algorithm).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = if m <= 2 { y + 1 } else { y };
    (
        y,
        u32::try_from(m).unwrap_or(1),
        u32::try_from(d).unwrap_or(1),
    )
}

/// 32 random hex digits (session ids, interaction tokens' tails).
pub(crate) fn random_hex() -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let mut out = String::with_capacity(32);
    for _ in 0..2 {
        let mut h = RandomState::new().build_hasher();
        h.write_u64(COUNTER.fetch_add(1, Ordering::Relaxed));
        h.write_u64(unix_ms());
        out.push_str(&format!("{:016x}", h.finish()));
    }
    out
}

/// An id as Discord writes it: a decimal string.
pub(crate) fn sf(id: u64) -> Value {
    Value::String(id.to_string())
}

/// Parses a snowflake given as a JSON string or number.
pub(crate) fn parse_sf(v: Option<&Value>) -> Option<u64> {
    match v? {
        Value::String(s) => s.trim().parse().ok(),
        Value::Number(n) => n.as_u64(),
        _ => None,
    }
}

/// A user object. Bots carry `"bot": true`; humans leave the field out, as Discord does.
pub(crate) fn user_json(u: &DcUser) -> Value {
    let mut m = Map::new();
    m.insert("id".into(), sf(u.id));
    m.insert("username".into(), u.name.as_str().into());
    m.insert("discriminator".into(), "0".into());
    m.insert(
        "global_name".into(),
        if u.bot {
            Value::Null
        } else {
            u.name.as_str().into()
        },
    );
    m.insert("avatar".into(), Value::Null);
    if u.bot {
        m.insert("bot".into(), true.into());
    }
    m.insert("public_flags".into(), 0.into());
    m.insert("flags".into(), 0.into());
    m.insert("banner".into(), Value::Null);
    m.insert("accent_color".into(), Value::Null);
    m.insert("avatar_decoration_data".into(), Value::Null);
    m.insert("collectibles".into(), Value::Null);
    m.insert("primary_guild".into(), Value::Null);
    Value::Object(m)
}

/// `GET /users/@me` for a bot.
pub(crate) fn current_user_json(bot: &DcUser) -> Value {
    let mut v = user_json(bot);
    if let Some(m) = v.as_object_mut() {
        m.insert("bot".into(), true.into());
        m.insert("verified".into(), true.into());
        m.insert("mfa_enabled".into(), false.into());
        m.insert("locale".into(), "en-US".into());
        m.insert("email".into(), Value::Null);
        m.insert("premium_type".into(), 0.into());
        m.insert("bio".into(), "".into());
    }
    v
}

/// A guild member. `user` is left out in the `member` of a MESSAGE_CREATE (Discord puts
/// the user in `author` there); `permissions` only appears in interactions.
pub(crate) fn member_json(user: Option<&DcUser>, joined_at: &str, permissions: bool) -> Value {
    let mut m = Map::new();
    if let Some(user) = user {
        m.insert("user".into(), user_json(user));
    }
    m.insert("nick".into(), Value::Null);
    m.insert("avatar".into(), Value::Null);
    m.insert("banner".into(), Value::Null);
    m.insert("roles".into(), json!([]));
    m.insert("joined_at".into(), joined_at.into());
    m.insert("premium_since".into(), Value::Null);
    m.insert("deaf".into(), false.into());
    m.insert("mute".into(), false.into());
    m.insert("flags".into(), 0.into());
    m.insert("pending".into(), false.into());
    m.insert("communication_disabled_until".into(), Value::Null);
    m.insert("unusual_dm_activity_until".into(), Value::Null);
    if permissions {
        m.insert("permissions".into(), MEMBER_PERMISSIONS.into());
    }
    Value::Object(m)
}

/// The guild's `@everyone` role (its id is the guild's id).
pub(crate) fn everyone_role_json(guild_id: u64) -> Value {
    json!({
        "id": sf(guild_id),
        "name": "@everyone",
        "description": null,
        "color": 0,
        "colors": {"primary_color": 0, "secondary_color": null, "tertiary_color": null},
        "hoist": false,
        "icon": null,
        "unicode_emoji": null,
        "position": 0,
        "permissions": MEMBER_PERMISSIONS,
        "managed": false,
        "mentionable": false,
        "flags": 0,
    })
}

/// A guild text channel (type 0). `guild_id` is left out inside GUILD_CREATE, as Discord
/// does (serenity fills it in).
pub(crate) fn text_channel_json(
    id: u64,
    guild_id: Option<u64>,
    name: &str,
    position: usize,
    last_message_id: Option<u64>,
) -> Value {
    let mut m = Map::new();
    m.insert("id".into(), sf(id));
    m.insert("type".into(), 0.into());
    if let Some(guild_id) = guild_id {
        m.insert("guild_id".into(), sf(guild_id));
    }
    m.insert("name".into(), name.into());
    m.insert("position".into(), position.into());
    m.insert("permission_overwrites".into(), json!([]));
    m.insert("topic".into(), Value::Null);
    m.insert("nsfw".into(), false.into());
    m.insert(
        "last_message_id".into(),
        last_message_id.map_or(Value::Null, sf),
    );
    m.insert("rate_limit_per_user".into(), 0.into());
    m.insert("parent_id".into(), Value::Null);
    m.insert("last_pin_timestamp".into(), Value::Null);
    m.insert("flags".into(), 0.into());
    Value::Object(m)
}

/// A DM channel (type 1) with one recipient.
pub(crate) fn dm_channel_json(id: u64, recipient: &DcUser, last_message_id: Option<u64>) -> Value {
    json!({
        "id": sf(id),
        "type": 1,
        "last_message_id": last_message_id.map_or(Value::Null, sf),
        "flags": 0,
        "recipients": [user_json(recipient)],
    })
}

/// The channel object inside an interaction (`channel`): a partial channel.
pub(crate) fn interaction_channel_json(id: u64, guild: Option<(u64, &str)>) -> Value {
    match guild {
        Some((guild_id, name)) => json!({
            "id": sf(id), "type": 0, "guild_id": sf(guild_id), "name": name,
            "permissions": MEMBER_PERMISSIONS, "flags": 0, "nsfw": false, "position": 0,
            "parent_id": null, "topic": null, "rate_limit_per_user": 0,
            "last_message_id": null,
        }),
        None => json!({ "id": sf(id), "type": 1, "flags": 0, "last_message_id": null }),
    }
}

/// A guild as sent in GUILD_CREATE: the guild object plus the gateway-only fields
/// (`joined_at`, `large`, `member_count`, `members`, `channels`, ...).
pub(crate) fn guild_create_json(
    id: u64,
    name: &str,
    owner_id: u64,
    joined_at: &str,
    bot: &DcUser,
    channels: Vec<Value>,
) -> Value {
    // Two halves: one `json!` this large exceeds the macro recursion limit.
    let mut guild = json!({
        "id": sf(id),
        "name": name,
        "icon": null,
        "icon_hash": null,
        "splash": null,
        "discovery_splash": null,
        "owner_id": sf(owner_id),
        "afk_channel_id": null,
        "afk_timeout": 300,
        "widget_enabled": false,
        "widget_channel_id": null,
        "verification_level": 0,
        "default_message_notifications": 1,
        "explicit_content_filter": 0,
        "roles": [everyone_role_json(id)],
        "emojis": [],
        "features": [],
        "mfa_level": 0,
        "application_id": null,
        "system_channel_id": null,
        "system_channel_flags": 0,
        "rules_channel_id": null,
        "max_presences": null,
        "max_members": 500_000,
        "vanity_url_code": null,
        "description": null,
        "banner": null,
        "premium_tier": 0,
    });
    let gateway_fields = json!({
        "premium_subscription_count": 0,
        "preferred_locale": "en-US",
        "public_updates_channel_id": null,
        "max_video_channel_users": 25,
        "max_stage_video_channel_users": 50,
        "nsfw_level": 0,
        "nsfw": false,
        "stickers": [],
        "premium_progress_bar_enabled": false,
        "safety_alerts_channel_id": null,
        "incidents_data": null,
        "joined_at": joined_at,
        "large": false,
        "unavailable": false,
        "member_count": 2,
        "voice_states": [],
        "members": [member_json(Some(bot), joined_at, false)],
        "channels": channels,
        "threads": [],
        "presences": [],
        "stage_instances": [],
        "guild_scheduled_events": [],
        "soundboard_sounds": [],
        "embedded_activities": [],
        "lazy": true,
    });
    if let (Some(g), Value::Object(rest)) = (guild.as_object_mut(), gateway_fields) {
        g.extend(rest);
    }
    guild
}

/// `GET /oauth2/applications/@me`.
pub(crate) fn application_json(app_id: u64, name: &str, owner: &DcUser, bot: &DcUser) -> Value {
    json!({
        "id": sf(app_id),
        "name": name,
        "icon": null,
        "description": "",
        "summary": "",
        "type": null,
        "hook": true,
        "bot_public": true,
        "bot_require_code_grant": false,
        "verify_key": format!("{:064x}", app_id),
        "owner": user_json(owner),
        "team": null,
        "flags": 0,
        "rpc_origins": [],
        "redirect_uris": [],
        "interactions_endpoint_url": null,
        "role_connections_verification_url": null,
        "tags": [],
        "install_params": null,
        "integration_types_config": {"0": {}},
        "approximate_guild_count": 0,
        "approximate_user_install_count": 0,
        "bot": user_json(bot),
    })
}

/// Discord's error body `{"message": ..., "code": ...}`.
pub(crate) fn error_json(code: u32, message: &str) -> Value {
    json!({ "message": message, "code": code })
}

/// 50035 "Invalid Form Body" with one error at `path` (dot-separated; numeric parts are
/// array indexes).
pub(crate) fn form_error_json(path: &str, code: &str, message: &str) -> Value {
    let mut inner = json!({ "_errors": [{ "code": code, "message": message }] });
    for part in path.rsplit('.') {
        let mut m = Map::new();
        m.insert(part.to_owned(), inner);
        inner = Value::Object(m);
    }
    json!({ "message": "Invalid Form Body", "code": 50035, "errors": inner })
}

/// The user ids mentioned as `<@ID>` or `<@!ID>` in `content`, in order, without
/// duplicates.
pub(crate) fn mentioned_user_ids(content: &str) -> Vec<u64> {
    let mut ids = Vec::new();
    let mut rest = content;
    while let Some(pos) = rest.find("<@") {
        rest = &rest[pos + 2..];
        let body = rest.strip_prefix('!').unwrap_or(rest);
        let Some(end) = body.find('>') else { break };
        if let Ok(id) = body[..end].parse::<u64>()
            && !ids.contains(&id)
        {
            ids.push(id);
        }
    }
    ids
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_are_rfc3339() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00.000000+00:00");
        assert_eq!(
            rfc3339(1_709_251_199_123),
            "2024-02-29T23:59:59.123000+00:00"
        );
        assert_eq!(
            rfc3339(DISCORD_EPOCH_MS),
            "2015-01-01T00:00:00.000000+00:00"
        );
    }

    #[test]
    fn form_errors_nest_by_path() {
        assert_eq!(
            form_error_json("content", "BASE_TYPE_MAX_LENGTH", "too long")["errors"],
            json!({"content": {"_errors": [{"code": "BASE_TYPE_MAX_LENGTH", "message": "too long"}]}})
        );
        assert_eq!(
            form_error_json("0.name", "X", "y")["errors"]["0"]["name"]["_errors"][0]["code"],
            "X"
        );
    }

    #[test]
    fn mentions_are_found() {
        assert_eq!(
            mentioned_user_ids("<@1> hi <@!22> <@1> <@&3> <@x>"),
            [1, 22]
        );
        assert!(mentioned_user_ids("no mentions <@").is_empty());
    }

    #[test]
    fn random_hex_differs() {
        let (a, b) = (random_hex(), random_hex());
        assert_eq!(a.len(), 32);
        assert_ne!(a, b);
    }
}
