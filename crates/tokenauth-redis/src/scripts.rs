//! The Lua scripts: each runs atomically on the node of its one key (a user's hash, or
//! a pointer), so each primitive is one atomic step on a single server and on a
//! cluster alike.

use std::sync::LazyLock;

use redis::Script;

/// The prelude of the scripts that write a user's hash (`KEYS[1]`), whose `ARGV[1]` is
/// a nonce of the operation. A client resends a script whose reply it lost (redis-rs
/// does on a cluster's response timeout): the rerun would find its own work done and
/// answer otherwise (a commit "conflict" that strands the record it inserted, a delete
/// that deleted nothing). The hash keeps the last operation's nonce (`o`) and answer
/// (`O`, as JSON); a rerun with that nonce answers the same, writing nothing.
macro_rules! replayed {
    () => {
        r"
local key = KEYS[1]
if redis.call('HGET', key, 'o') == ARGV[1] then
  return cjson.decode(redis.call('HGET', key, 'O'))
end
local function remember(out)
  redis.call('HSET', key, 'o', ARGV[1], 'O', cjson.encode(out))
  return out
end
"
    };
}

/// The compare-and-swap of [`TokenStore::commit`](tokenauth_core::store::TokenStore::commit).
///
/// `KEYS[1]`: the user's hash. `ARGV`: the operation's nonce, the expected version,
/// the retention in ms (`0`: none), the new record's id (empty: no insert), its fixed
/// part, its last use (empty: never used), then the ids to delete. Answers `{0}` on a
/// version mismatch (nothing written), `{2}` when the new id is already in the hash
/// (nothing written), else `{1, deleted records...}`. The key's expiry is only ever
/// extended. Idempotent (`replayed!`): run again with the same nonce, it answers what
/// the first run did.
pub(crate) static COMMIT: LazyLock<Script> = LazyLock::new(|| {
    Script::new(concat!(
        replayed!(),
        r"
if (redis.call('HGET', key, 'v') or '0') ~= ARGV[2] then return {0} end
local new = ARGV[4]
if new ~= '' and redis.call('HEXISTS', key, 'r:' .. new) == 1 then return {2} end
local out = {1}
for i = 7, #ARGV do
  local record = redis.call('HGET', key, 'r:' .. ARGV[i])
  if record then
    redis.call('HDEL', key, 'r:' .. ARGV[i], 'u:' .. ARGV[i])
    out[#out + 1] = record
  end
end
if new ~= '' then
  redis.call('HSET', key, 'r:' .. new, ARGV[5])
  if ARGV[6] ~= '' then redis.call('HSET', key, 'u:' .. new, ARGV[6]) end
end
redis.call('HINCRBY', key, 'v', 1)
local retention = tonumber(ARGV[3])
if retention > 0 and redis.call('PTTL', key) < retention then
  redis.call('PEXPIRE', key, retention)
end
return remember(out)
"
    ))
});

/// Deletes records of one user. `KEYS[1]`: the user's hash. `ARGV[1]`: the operation's
/// nonce; `ARGV[2]`: `only` to delete the ids that follow, `except` to delete every
/// record but them. Answers the deleted records. The version is left alone: a delete
/// never makes a decision core took on an older read unsafe (the deleted ids are
/// skipped by its commit). Idempotent (`replayed!`) when it deleted something.
pub(crate) static DELETE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(concat!(
        replayed!(),
        r"
local out = {}
local function drop(id)
  local record = redis.call('HGET', key, 'r:' .. id)
  if record then
    redis.call('HDEL', key, 'r:' .. id, 'u:' .. id)
    out[#out + 1] = record
  end
end
if ARGV[2] == 'only' then
  for i = 3, #ARGV do drop(ARGV[i]) end
else
  local keep = {}
  for i = 3, #ARGV do keep[ARGV[i]] = true end
  for _, field in ipairs(redis.call('HKEYS', key)) do
    if string.sub(field, 1, 2) == 'r:' and not keep[string.sub(field, 3)] then
      drop(string.sub(field, 3))
    end
  end
end
-- Nothing deleted: nothing to remember (a rerun answers the same), and no key made.
if #out == 0 then return out end
return remember(out)
"
    ))
});

/// Writes uses of one user's records. `KEYS[1]`: the user's hash. `ARGV`: triples of
/// id, instant (20 sortable digits) and address (empty: unknown). A use of a record
/// no longer stored is ignored; an older use than the one stored changes nothing; a
/// use without an address keeps the stored one.
pub(crate) static USAGE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
local key = KEYS[1]
for i = 1, #ARGV, 3 do
  local id, at, ip = ARGV[i], ARGV[i + 1], ARGV[i + 2]
  if redis.call('HEXISTS', key, 'r:' .. id) == 1 then
    local stored = redis.call('HGET', key, 'u:' .. id)
    local stored_at, stored_ip = '', ''
    if stored then
      local bar = string.find(stored, '|', 1, true)
      stored_at, stored_ip = string.sub(stored, 1, bar - 1), string.sub(stored, bar + 1)
    end
    if stored_at == '' or at >= stored_at then
      if ip == '' then ip = stored_ip end
      redis.call('HSET', key, 'u:' .. id, at .. '|' .. ip)
    end
  end
end
return 0
",
    )
});

/// Deletes a pointer only if it still holds the given value. `KEYS[1]`: the pointer;
/// `ARGV[1]`: the value.
pub(crate) static DELETE_IF: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
",
    )
});

/// Lengthens a key's expiry, if it has one; answers 1 if it changed it. `KEYS[1]`: the
/// key; `ARGV[1]`: `by` to add `ARGV[2]` ms, `atleast` to make it at least `ARGV[2]` ms,
/// or `persist` to drop the expiry.
pub(crate) static EXTEND: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
local ttl = redis.call('PTTL', KEYS[1])
if ttl < 0 then return 0 end
if ARGV[1] == 'persist' then return redis.call('PERSIST', KEYS[1]) end
local ms = tonumber(ARGV[2])
if ARGV[1] == 'by' then return redis.call('PEXPIRE', KEYS[1], ttl + ms) end
if ttl < ms then return redis.call('PEXPIRE', KEYS[1], ms) end
return 0
",
    )
});

#[cfg(test)]
mod tests {
    use redis::Value;

    use super::{COMMIT, DELETE};

    /// A script resent with its nonce (its reply was lost) answers what the first run
    /// did, and writes nothing more.
    #[tokio::test]
    #[ignore = "needs Redis: set TOKENAUTH_TEST_REDIS_URL and run with --ignored"]
    async fn a_resent_script_answers_as_its_first_run() {
        let url = std::env::var("TOKENAUTH_TEST_REDIS_URL").expect("TOKENAUTH_TEST_REDIS_URL");
        let mut conn = redis::Client::open(url)
            .unwrap()
            .get_multiplexed_async_connection()
            .await
            .expect("Redis at TOKENAUTH_TEST_REDIS_URL");
        let key = format!("tokenauth-test-{:016x}:{{u:1}}", rand::random::<u64>());
        let mut commit = COMMIT.key(&key);
        commit
            .arg("nonce-1")
            .arg("0")
            .arg("0")
            .arg("t1")
            .arg("{\"r\":1}")
            .arg("");
        for run in ["first", "resent"] {
            let reply: Vec<Value> = commit.invoke_async(&mut conn).await.unwrap();
            assert_eq!(reply, vec![Value::Int(1)], "{run} commit: applied");
        }
        let version: String = redis::cmd("HGET")
            .arg(&key)
            .arg("v")
            .query_async(&mut conn)
            .await
            .unwrap();
        assert_eq!(version, "1", "applied once");

        let mut delete = DELETE.key(&key);
        delete.arg("nonce-2").arg("only").arg("t1");
        for run in ["first", "resent"] {
            let reply: Vec<String> = delete.invoke_async(&mut conn).await.unwrap();
            assert_eq!(reply, vec!["{\"r\":1}".to_owned()], "{run} delete: the record");
        }
        // A new operation on the same key is not mistaken for the last one.
        let mut again = DELETE.key(&key);
        again.arg("nonce-3").arg("only").arg("t1");
        let reply: Vec<String> = again.invoke_async(&mut conn).await.unwrap();
        assert!(reply.is_empty());
        let _: i64 = redis::cmd("DEL").arg(&key).query_async(&mut conn).await.unwrap();
    }
}
