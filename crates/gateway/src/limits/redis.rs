//! Counters in Redis, shared by every replica: one key per (account, scope,
//! window), read, checked and incremented by one Lua script so that
//! concurrent requests on any replicas can never together pass a limit.

use std::time::Duration;

use ::redis::aio::{ConnectionManager, ConnectionManagerConfig};
use ::redis::{Client, RedisError, Script};

use super::{Error, Hit, Rule};

/// Keeps a counter a little past its window's end, so a replica whose clock
/// lags by up to this much still finds it.
const GRACE_MS: u64 = 1_000;

/// How long start-up waits for Redis before reporting it unreachable.
const STARTUP_TIMEOUT: Duration = Duration::from_secs(5);

/// `KEYS[i]` is rule `i`'s counter, `ARGV[i]` its limit, `ARGV[n + i]` its
/// time to live in milliseconds. Returns `{admitted (1|0), count_1, ...}`:
/// the counts after incrementing when admitted, untouched when not. A key
/// gets its expiry when it is created, in the same atomic step.
const CHECK_AND_COUNT: &str = r"
local n = #KEYS
local out = {1}
for i = 1, n do
  local c = tonumber(redis.call('GET', KEYS[i]) or '0')
  out[i + 1] = c
  if c >= tonumber(ARGV[i]) then out[1] = 0 end
end
if out[1] == 0 then return out end
for i = 1, n do
  local c = redis.call('INCR', KEYS[i])
  if c == 1 then redis.call('PEXPIRE', KEYS[i], ARGV[n + i]) end
  out[i + 1] = c
end
return out
";

/// A connection to the shared counters.
pub(crate) struct RedisBackend {
    /// Multiplexed and self-reconnecting; cloning it is cheap and shares the
    /// one connection.
    conn: ConnectionManager,
    script: Script,
    prefix: String,
    /// `host:port`, for logs (the URL may hold a password).
    addr: String,
}

impl std::fmt::Debug for RedisBackend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisBackend")
            .field("addr", &self.addr)
            .field("prefix", &self.prefix)
            .finish_non_exhaustive()
    }
}

impl RedisBackend {
    /// Connects and checks that Redis answers `PING`.
    pub(crate) async fn connect(
        url: &str,
        prefix: String,
        timeout: Duration,
    ) -> Result<RedisBackend, Error> {
        let client = Client::open(url).map_err(|e| Error::InvalidUrl(e.to_string()))?;
        let addr = client.get_connection_info().addr().to_string();
        let unreachable = |message: String| Error::Unreachable {
            addr: addr.clone(),
            message,
        };
        // Reconnection after an outage happens in the background; requests
        // meanwhile fail fast and are counted locally (see `RateLimiter`).
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(timeout.max(Duration::from_secs(1))))
            .set_response_timeout(Some(timeout))
            .set_number_of_retries(2)
            .set_max_delay(Duration::from_secs(1));
        let start = async {
            let mut conn = ConnectionManager::new_with_config(client, config).await?;
            ::redis::cmd("PING")
                .query_async::<String>(&mut conn)
                .await?;
            Ok::<_, RedisError>(conn)
        };
        let conn = tokio::time::timeout(STARTUP_TIMEOUT, start)
            .await
            .map_err(|_| unreachable(format!("no answer within {STARTUP_TIMEOUT:?}")))?
            .map_err(|e| unreachable(e.to_string()))?;
        tracing::debug!(%addr, %prefix, "rate-limit counters in redis");
        Ok(RedisBackend {
            conn,
            script: Script::new(CHECK_AND_COUNT),
            prefix,
            addr,
        })
    }

    /// `host:port`.
    pub(crate) fn addr(&self) -> &str {
        &self.addr
    }

    /// The counter's key. The account is a hash tag (`{…}`), so an
    /// account's keys share a cluster slot and one script can touch them
    /// all.
    fn key(&self, account: &str, rule: &Rule) -> String {
        format!(
            "{}:{{{account}}}:{}:{}",
            self.prefix,
            rule.scope.as_str(),
            rule.index
        )
    }

    /// Admits and counts, or refuses and counts nothing, atomically across
    /// replicas.
    pub(crate) async fn hit(
        &self,
        account: &str,
        rules: &[Rule],
        now_ms: u64,
    ) -> Result<Hit, RedisError> {
        let mut invocation = self.script.prepare_invoke();
        for rule in rules {
            invocation.key(self.key(account, rule));
        }
        for rule in rules {
            invocation.arg(rule.limit);
        }
        for rule in rules {
            let ttl = rule.reset_at_ms().saturating_sub(now_ms).max(1) + GRACE_MS;
            invocation.arg(ttl);
        }
        let mut conn = self.conn.clone();
        let out: Vec<u64> = invocation.invoke_async(&mut conn).await?;
        match out.split_first() {
            Some((flag, counts)) if counts.len() == rules.len() => Ok(Hit {
                admitted: *flag == 1,
                counts: counts.to_vec(),
            }),
            _ => Err(RedisError::from((
                ::redis::ErrorKind::UnexpectedReturnType,
                "rate-limit script returned the wrong number of counts",
            ))),
        }
    }
}
