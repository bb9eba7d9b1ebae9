//! A client-side rate: requests (or read units) per second, shared by everything in the process
//! that draws on the same AWS quota.

use std::time::Duration;

use tokio::sync::Mutex;
use tokio::time::Instant;

/// Spends units (requests, read capacity units) at no more than `per_second` on average: each
/// spend pushes the next turn back by `units / per_second`.
#[derive(Debug)]
pub struct Pace {
    per_second: f64,
    next: Mutex<Option<Instant>>,
}

impl Pace {
    /// At most `per_second` units per second (a non-positive or non-finite rate is unlimited).
    pub fn per_second(per_second: f64) -> Self {
        Pace { per_second, next: Mutex::new(None) }
    }

    /// Waits for the next turn.
    pub async fn wait(&self) {
        let at = *self.next.lock().await;
        if let Some(at) = at {
            tokio::time::sleep_until(at).await;
        }
    }

    /// Books `units` spent now.
    pub async fn spend(&self, units: f64) {
        if !(self.per_second.is_finite() && self.per_second > 0.0 && units.is_finite() && units > 0.0) {
            return;
        }
        let mut next = self.next.lock().await;
        let from = next.map_or_else(Instant::now, |n| n.max(Instant::now()));
        *next = Some(from + Duration::from_secs_f64(units / self.per_second));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn requests_are_spaced_by_the_rate() {
        let pace = Pace::per_second(2.0);
        let start = Instant::now();
        for _ in 0..5 {
            pace.wait().await;
            pace.spend(1.0).await;
        }
        // Five requests at 2 per second: the fifth starts 2 s after the first.
        assert_eq!(start.elapsed(), Duration::from_secs(2));
        pace.spend(10.0).await;
        let before = Instant::now();
        pace.wait().await;
        assert_eq!(before.elapsed(), Duration::from_millis(5500), "10 units at 2/s after the pending 0.5 s");
    }
}
