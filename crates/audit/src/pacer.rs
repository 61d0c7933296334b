//! Gentle pacing of login attempts: at most `rate` attempts per second, so that an audit never looks like
//! (or loads the PBX like) the brute force it imitates. Runs on tokio's clock, which tests pause and advance.

use std::time::Duration;

use tokio::time::Instant;

/// Spaces calls to [`Pacer::ready`] at least `1 / rate` seconds apart.
#[derive(Debug)]
pub struct Pacer {
    interval: Duration,
    next: Option<Instant>,
}

impl Pacer {
    /// `rate` attempts per second; values at or below zero are taken as the default of 2.
    pub fn new(rate: f64) -> Pacer {
        let rate = if rate.is_finite() && rate > 0.0 {
            rate
        } else {
            2.0
        };
        Pacer {
            interval: Duration::from_secs_f64(1.0 / rate),
            next: None,
        }
    }

    /// Waits until the next attempt may go.
    pub async fn ready(&mut self) {
        if let Some(at) = self.next {
            tokio::time::sleep_until(at).await;
        }
        self.next = Some(Instant::now() + self.interval);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn five_attempts_at_two_per_second_take_two_virtual_seconds() {
        let start = Instant::now();
        let mut p = Pacer::new(2.0);
        let mut at = Vec::new();
        for _ in 0..5 {
            p.ready().await;
            at.push(start.elapsed());
        }
        let ms: Vec<u128> = at.iter().map(Duration::as_millis).collect();
        assert_eq!(ms, vec![0, 500, 1000, 1500, 2000]);
    }

    #[test]
    fn nonsense_rate_falls_back_to_the_gentle_default() {
        assert_eq!(Pacer::new(0.0).interval, Duration::from_millis(500));
        assert_eq!(Pacer::new(f64::NAN).interval, Duration::from_millis(500));
    }
}
