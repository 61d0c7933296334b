//! The demo's simulated clock: the same start and speed as the guard's engine clock (`[clock]` in the demo
//! configuration), so that a simulator holding a call for "30 s" holds it for 30 s of engine time.

use tokio::time::Instant;

/// JST is UTC+9 all year (no daylight saving), so a fixed offset is exact.
pub const JST_OFFSET_SECS: i32 = 9 * 3600;

#[derive(Debug, Clone, Copy)]
pub struct SimClock {
    origin: Instant,
    start_ms: i64,
    speed: f64,
}

impl SimClock {
    pub fn new(start_ms: i64, speed: f64) -> SimClock {
        SimClock {
            origin: Instant::now(),
            start_ms,
            speed: if speed.is_finite() && speed > 0.0 {
                speed
            } else {
                1.0
            },
        }
    }

    /// Simulated time now, in milliseconds since 1970.
    pub fn now_ms(&self) -> i64 {
        let wall = self.origin.elapsed().as_secs_f64() * 1000.0;
        #[allow(clippy::cast_possible_truncation)]
        let sim = (wall * self.speed) as i64;
        self.start_ms.saturating_add(sim)
    }

    /// The wall instant at which simulated time reaches `sim_ms`.
    pub fn instant_of(&self, sim_ms: i64) -> Instant {
        #[allow(clippy::cast_precision_loss)]
        let wall_ms = (sim_ms - self.start_ms).max(0) as f64 / self.speed;
        self.origin + std::time::Duration::from_secs_f64(wall_ms / 1000.0)
    }

    pub async fn sleep_until(&self, sim_ms: i64) {
        tokio::time::sleep_until(self.instant_of(sim_ms)).await;
    }
}

/// "19:31:12" in Japan time.
pub fn hms(ms: i64) -> String {
    let s = (ms.div_euclid(1000) + i64::from(JST_OFFSET_SECS)).rem_euclid(86_400);
    format!("{:02}:{:02}:{:02}", s / 3600, (s / 60) % 60, s % 60)
}

/// "19:31" in Japan time.
pub fn hm(ms: i64) -> String {
    let s = (ms.div_euclid(1000) + i64::from(JST_OFFSET_SECS)).rem_euclid(86_400);
    format!("{:02}:{:02}", s / 3600, (s / 60) % 60)
}

/// The next Friday 19:30 JST at or before `now_ms`'s week, as milliseconds since 1970: the evening the
/// 2015 attacks started. Computed, not fixed, so that the demo replays "last Friday" (holiday rules then
/// apply to a real date).
pub fn last_friday_1930(now_ms: i64) -> i64 {
    let day_ms = 86_400_000_i64;
    let local = now_ms + i64::from(JST_OFFSET_SECS) * 1000;
    let days = local.div_euclid(day_ms);
    // 1970-01-01 was a Thursday: day 1 is a Friday.
    let back = (days - 1).rem_euclid(7);
    let friday = days - back;
    let at = friday * day_ms + (19 * 3600 + 30 * 60) * 1000 - i64::from(JST_OFFSET_SECS) * 1000;
    if at > now_ms { at - 7 * day_ms } else { at }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn friday_evening_in_japan() {
        // 2025-01-18 23:00 JST (a Saturday) → Friday 2025-01-17 19:30 JST = 10:30 UTC.
        let sat = 1_737_208_800_000;
        let fri = last_friday_1930(sat);
        assert_eq!(hms(fri), "19:30:00");
        assert_eq!(fri, 1_737_109_800_000);
        // On the Friday itself before 19:30, the Friday a week earlier.
        assert_eq!(last_friday_1930(fri - 1), fri - 7 * 86_400_000);
        assert_eq!(last_friday_1930(fri), fri);
    }
}
