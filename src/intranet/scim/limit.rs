//! How many SCIM requests may be in flight: a pure adaptive controller ([`Controller`], no IO,
//! fed latencies and overload answers) and the async gate the client waits at ([`Limiter`]).
//!
//! The controller is Vegas-like. It keeps the smallest latency seen (the service and the link
//! with nothing queued) and a smoothed recent latency; `limit × (1 − min / recent)` estimates how
//! many of the requests in flight are only waiting in a queue. While that is under 15 % of the
//! limit (the recent latency within about 18 % of the minimum), the limit grows: by one per
//! answer at first (doubling every round trip), by one per round trip after a back-off, and
//! eight times slower than that above half of where the last loss came. Over 30 % (about 43 %
//! slower than the minimum), it shrinks by one per answer. A loss halves it: a 429, a 503, a
//! timeout, or an answer many times slower than both the minimum and the recent latency (a
//! connection dropped at the service's full accept queue is retried a second later). Losses of
//! requests sent before the last halving are the same event and do not halve again. It stays
//! between 1 and the configured ceiling.
//!
//! So over a slow link (latency from the wire, not from the service) the limit climbs until the
//! service itself starts to queue or to drop; against a service that runs one request at a time
//! the latency doubles at 2 in flight, and the limit holds at 1 or 2 instead of piling requests
//! up. A fixed limit (`intranet.scim.adaptive: false`) never moves.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use reqwest::Method;
use tokio::sync::Notify;
use url::Url;

use crate::plan::Concurrency;
/// How the limit is chosen: learned from the answers, between 1 and the ceiling, or always the
/// ceiling.
pub use crate::plan::ConcurrencyMode as Mode;
use crate::report::WriteSummary;

/// What became of one request, as the controller sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signal {
    /// An answer that says nothing about load (any status but 429 and 503), after `latency`.
    Answer(Duration),
    /// The service is overloaded: a 429 or a 503, or no answer in time.
    Overload,
}

/// The limit, as it moves. Pure: the caller measures and reports.
#[derive(Debug, Clone)]
pub struct Controller {
    mode: Mode,
    max: usize,
    limit: f64,
    /// The smallest latency seen, in seconds.
    min: Option<f64>,
    /// The recent latency, smoothed, in seconds.
    recent: Option<f64>,
    /// Until the first back-off the limit grows by one per answer (doubling per round trip).
    slow_start: bool,
    answers: u64,
    /// Sum of the limit over the answers, for [`Controller::settled`].
    limit_sum: f64,
    /// Back-offs so far: a loss among requests started before the last back-off is the same
    /// event (they were all sent at the old limit), and does not halve the limit again.
    epoch: u64,
    /// Requests in flight when the last lost one started: above half of this, growth is slow.
    loss_at: Option<f64>,
}

/// Weight of the newest latency in the smoothed one.
const SMOOTHING: f64 = 0.25;
/// Requests estimated queued, per unit of limit, below which the limit grows …
const ALPHA: f64 = 0.15;
/// … and above which it shrinks.
const BETA: f64 = 0.3;
/// A latency this many times the minimum (and half as many times the recent one) is a loss.
const SPIKE: f64 = 4.0;

impl Controller {
    /// A controller with ceiling `max` (at least 1). Adaptive starts at 1, so that the first
    /// answers measure the service with nothing queued; fixed is `max` throughout.
    pub fn new(mode: Mode, max: usize) -> Controller {
        let max = max.max(1);
        let limit = match mode {
            Mode::Adaptive => 1.0,
            Mode::Fixed => max as f64,
        };
        Controller {
            mode,
            max,
            limit,
            min: None,
            recent: None,
            slow_start: true,
            answers: 0,
            limit_sum: 0.0,
            epoch: 0,
            loss_at: None,
        }
    }

    /// Requests that may be in flight now.
    pub fn limit(&self) -> usize {
        self.limit as usize
    }

    /// Back-offs so far; give it back to [`Controller::record_from`] with the request's fate.
    pub fn epoch(&self) -> u64 {
        self.epoch
    }

    /// Answers recorded (overloads aside): the requests that got one.
    pub fn answers(&self) -> u64 {
        self.answers
    }

    /// For the summaries: mode, ceiling and, when adaptive, where it settled.
    pub fn summary(&self) -> Concurrency {
        Concurrency {
            mode: self.mode,
            max: self.max,
            settled: match self.mode {
                Mode::Adaptive => self.settled(),
                Mode::Fixed => None,
            },
        }
    }

    /// The limit the answers came in at, on average (rounded); `None` before any answer.
    pub fn settled(&self) -> Option<usize> {
        (self.answers > 0).then(|| (self.limit_sum / self.answers as f64).round() as usize)
    }

    /// Requests estimated to be waiting in a queue rather than being served or on the wire.
    fn queued(&self) -> f64 {
        match (self.min, self.recent) {
            (Some(min), Some(recent)) if recent > 0.0 => self.limit * (1.0 - min / recent),
            _ => 0.0,
        }
    }

    /// Record one request's fate. `in_flight` is how many were in flight when it started
    /// (itself included): the limit only grows when it is in use.
    #[cfg(test)]
    pub fn record(&mut self, signal: Signal, in_flight: usize) {
        self.record_from(signal, in_flight, self.epoch);
    }

    /// Halve the limit after a loss by a request that started with `in_flight` in flight, at
    /// `epoch`; nothing when the limit was already halved since it started. The halving starts
    /// from what was in flight then, not from what the limit grew to while the answer was late.
    fn back_off(&mut self, in_flight: usize, epoch: u64) {
        if epoch < self.epoch {
            return;
        }
        self.epoch += 1;
        self.slow_start = false;
        let base = self.limit.min(in_flight.max(1) as f64);
        self.loss_at = Some(base);
        self.limit = (base / 2.0).max(1.0);
    }

    /// [`Controller::record`] for a request that started at `epoch` ([`Controller::epoch`]).
    pub fn record_from(&mut self, signal: Signal, in_flight: usize, epoch: u64) {
        if self.mode == Mode::Fixed {
            if let Signal::Answer(_) = signal {
                self.answers += 1;
                self.limit_sum += self.limit;
            }
            return;
        }
        match signal {
            Signal::Overload => self.back_off(in_flight, epoch),
            Signal::Answer(latency) => {
                self.answers += 1;
                self.limit_sum += self.limit;
                let l = latency.as_secs_f64();
                // A spike far above both the minimum and the recent latency is a loss, not a
                // queue: a connection the service's full accept queue dropped (its retry comes a
                // second later), a stall. Back off as for a 429.
                if let (Some(min), Some(recent)) = (self.min, self.recent) {
                    if l > SPIKE * min && l > SPIKE / 2.0 * recent {
                        self.recent = Some(recent + SMOOTHING * (l - recent));
                        self.back_off(in_flight, epoch);
                        return;
                    }
                }
                self.min = Some(self.min.map_or(l, |m| m.min(l)));
                self.recent = Some(self.recent.map_or(l, |r| r + SMOOTHING * (l - r)));
                // Grow while the recent latency is within about 18 % of the minimum, shrink
                // beyond about 43 %: a service that serialises doubles the latency at 2 in
                // flight and holds the limit at 1 or 2.
                let alpha = ALPHA * self.limit;
                let beta = BETA * self.limit;
                let queued = self.queued();
                if queued > beta {
                    self.slow_start = false;
                    self.limit = (self.limit - 1.0).max(1.0);
                } else if queued >= alpha {
                    self.slow_start = false;
                } else if in_flight as f64 * 2.0 > self.limit {
                    let mut step = if self.slow_start {
                        1.0
                    } else {
                        1.0 / self.limit
                    };
                    // Above half of where the last loss came (where the halving left it), probe
                    // eight times slower: the trouble may have begun well below the limit the
                    // loss was seen at (a dropped connection is known only a second later).
                    if self.loss_at.is_some_and(|at| self.limit >= at / 2.0) {
                        step /= 8.0;
                    }
                    self.limit = (self.limit + step).min(self.max as f64);
                }
            }
        }
    }
}

/// One gate per kind of request, since their latencies differ by far (a page of a thousand
/// users against a one-field PATCH; a Bulk request of 200 operations): list pages, single
/// writes, Bulk requests, and the rest (discovery, `/Me`). Each learns its own limit.
#[derive(Debug)]
pub struct Gates {
    list: Limiter,
    write: Limiter,
    bulk: Limiter,
    other: Limiter,
}

impl Gates {
    pub fn new(adaptive: bool, max: usize) -> Gates {
        let mode = if adaptive {
            Mode::Adaptive
        } else {
            Mode::Fixed
        };
        let gate = || Limiter::new(Controller::new(mode, max));
        Gates {
            list: gate(),
            write: gate(),
            bulk: gate(),
            other: gate(),
        }
    }

    /// The gate a request waits at.
    pub fn gate(&self, method: &Method, url: &Url) -> &Limiter {
        if *method == Method::GET {
            if url.query().is_some() {
                &self.list
            } else {
                &self.other
            }
        } else if url.path().trim_end_matches('/').ends_with("/Bulk") {
            &self.bulk
        } else {
            &self.write
        }
    }

    /// List reads so far.
    pub fn reads(&self) -> Concurrency {
        self.list.controller().summary()
    }

    /// Writes so far: single requests, Bulk requests, and the concurrency of the single writes
    /// (of the Bulk requests when there were no single ones).
    pub fn writes(&self) -> WriteSummary {
        let (single, bulk) = (self.write.controller(), self.bulk.controller());
        WriteSummary {
            requests: single.answers() as usize,
            bulk_requests: bulk.answers() as usize,
            concurrency: if single.answers() == 0 && bulk.answers() > 0 {
                bulk.summary()
            } else {
                single.summary()
            },
        }
    }
}

/// The gate requests wait at: at most the controller's limit in flight.
#[derive(Debug)]
pub struct Limiter {
    state: Mutex<State>,
    freed: Notify,
}

#[derive(Debug)]
struct State {
    ctl: Controller,
    in_flight: usize,
}

/// A place in flight; give it back with [`Permit::done`] (or drop it: no measurement).
pub struct Permit<'a> {
    limiter: &'a Limiter,
    start: Instant,
    in_flight: usize,
    epoch: u64,
}

impl Limiter {
    pub fn new(ctl: Controller) -> Limiter {
        Limiter {
            state: Mutex::new(State { ctl, in_flight: 0 }),
            freed: Notify::new(),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Wait for a place in flight.
    pub async fn acquire(&self) -> Permit<'_> {
        loop {
            let freed = self.freed.notified();
            tokio::pin!(freed);
            // Registered before the check, so a place freed in between is not missed.
            freed.as_mut().enable();
            {
                let mut s = self.lock();
                if s.in_flight < s.ctl.limit() {
                    s.in_flight += 1;
                    return Permit {
                        limiter: self,
                        start: Instant::now(),
                        in_flight: s.in_flight,
                        epoch: s.ctl.epoch(),
                    };
                }
            }
            freed.await;
        }
    }

    /// The controller as it stands (for the summary of a run).
    pub fn controller(&self) -> Controller {
        self.lock().ctl.clone()
    }
}

impl Permit<'_> {
    /// The request is over: `overload` when it was answered 429 or 503 or timed out, otherwise
    /// its latency (from the place being given) is measured.
    pub fn done(self, overload: bool) {
        let signal = if overload {
            Signal::Overload
        } else {
            Signal::Answer(self.start.elapsed())
        };
        self.limiter
            .lock()
            .ctl
            .record_from(signal, self.in_flight, self.epoch);
        // `self` drops here and frees the place.
    }
}

impl Drop for Permit<'_> {
    fn drop(&mut self) {
        self.limiter.lock().in_flight -= 1;
        self.limiter.freed.notify_waiters();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    /// A closed loop against a model service: `n` requests, at most the limit in flight; a
    /// request takes the link's round trip `rtt` plus the service's own time `work`, which it
    /// serves `parallel` at a time (so with more in flight than the link and the service can
    /// hold, the rest queue: latency = in_flight × work / parallel). Returns the controller and
    /// the highest limit it reached.
    fn run(
        mut c: Controller,
        n: usize,
        rtt: Duration,
        work: Duration,
        parallel: usize,
    ) -> (Controller, usize) {
        let mut peak = c.limit();
        for _ in 0..n {
            let in_flight = c.limit();
            let queued = work.mul_f64(in_flight as f64 / parallel as f64);
            let latency = (rtt + work).max(queued);
            c.record(Signal::Answer(latency), in_flight);
            peak = peak.max(c.limit());
        }
        (c, peak)
    }

    #[test]
    fn grows_while_latency_holds() {
        let (c, _) = run(
            Controller::new(Mode::Adaptive, 32),
            200,
            40 * MS,
            MS / 2,
            64,
        );
        assert_eq!(c.limit(), 32, "a link that does not queue: the ceiling");
        // Slow start: 1, 2, 4, … — past 16 within 32 answers.
        let (c, _) = run(Controller::new(Mode::Adaptive, 64), 32, 40 * MS, MS / 2, 64);
        assert!(c.limit() >= 16, "{}", c.limit());
    }

    #[test]
    fn holds_low_against_a_service_that_serialises() {
        // No link to speak of, one request at a time: latency grows with every request added.
        let (c, peak) = run(
            Controller::new(Mode::Adaptive, 64),
            2000,
            Duration::ZERO,
            2 * MS,
            1,
        );
        assert!(c.limit() <= 2, "piled up to {}", c.limit());
        assert!(peak <= 3, "peak {peak}");
        assert!(c.settled().unwrap() <= 2, "{:?}", c.settled());
    }

    #[test]
    fn over_a_slow_link_climbs_to_what_the_service_can_take() {
        // 40 ms of link per request, 2 ms of service time one at a time: about 20 in flight keep
        // the service busy; more only queue.
        let (c, _) = run(
            Controller::new(Mode::Adaptive, 64),
            2000,
            40 * MS,
            2 * MS,
            1,
        );
        assert!((18..=30).contains(&c.limit()), "{}", c.limit());
    }

    #[test]
    fn backs_off_on_rising_latency() {
        let (mut c, _) = run(Controller::new(Mode::Adaptive, 32), 200, 40 * MS, MS, 64);
        assert_eq!(c.limit(), 32);
        // The service slows down: latency three times the minimum.
        for _ in 0..20 {
            c.record(Signal::Answer(120 * MS), 32);
        }
        assert!(c.limit() < 32, "{}", c.limit());
    }

    #[test]
    fn a_latency_spike_is_a_loss() {
        let (mut c, _) = run(Controller::new(Mode::Adaptive, 32), 200, 40 * MS, MS, 64);
        assert_eq!(c.limit(), 32);
        // A connection dropped by a full accept queue: its SYN is resent a second later.
        c.record(Signal::Answer(Duration::from_millis(1040)), 32);
        assert_eq!(c.limit(), 16);
    }

    #[test]
    fn halves_on_overload_and_never_below_one() {
        let (mut c, _) = run(Controller::new(Mode::Adaptive, 32), 200, 40 * MS, MS, 64);
        c.record(Signal::Overload, 32);
        assert_eq!(c.limit(), 16);
        c.record(Signal::Overload, 16);
        assert_eq!(c.limit(), 8);
        for _ in 0..10 {
            c.record(Signal::Overload, 1);
        }
        assert_eq!(c.limit(), 1);
    }

    #[test]
    fn after_a_loss_it_holds_near_half_and_probes_slowly() {
        let (mut c, _) = run(Controller::new(Mode::Adaptive, 64), 300, 40 * MS, MS, 64);
        assert_eq!(c.limit(), 64);
        // Lost by a request sent with 16 in flight (its answer late, the limit grew meanwhile).
        c.record(Signal::Overload, 16);
        assert_eq!(c.limit(), 8);
        // From 8 up, an eighth of one per round trip: 60 answers add less than one.
        let (c, _) = run(c, 60, 40 * MS, MS, 64);
        assert_eq!(c.limit(), 8);
        // 500 more: about six.
        let (c, _) = run(c, 500, 40 * MS, MS, 64);
        assert!((12..=15).contains(&c.limit()), "{}", c.limit());

        // A loss with 2 in flight: back to 1, and from there slowly.
        let (mut c, _) = run(Controller::new(Mode::Adaptive, 64), 300, 40 * MS, MS, 64);
        c.record(Signal::Overload, 2);
        assert_eq!(c.limit(), 1);
        let (c, _) = run(c, 3, 40 * MS, MS, 64);
        assert_eq!(c.limit(), 1, "an eighth per answer at 1, above half of 2");
    }

    #[test]
    fn one_loss_event_halves_once() {
        let (mut c, _) = run(Controller::new(Mode::Adaptive, 32), 200, 40 * MS, MS, 64);
        let sent_at = c.epoch();
        // Several requests sent at the same limit all come back lost: one halving.
        c.record_from(Signal::Overload, 32, sent_at);
        c.record_from(Signal::Overload, 32, sent_at);
        c.record_from(Signal::Answer(Duration::from_secs(1)), 32, sent_at);
        assert_eq!(c.limit(), 16);
        // A request sent after the halving is a new event.
        c.record_from(Signal::Overload, 16, c.epoch());
        assert_eq!(c.limit(), 8);
    }

    #[test]
    fn grows_only_when_the_limit_is_used() {
        let mut c = Controller::new(Mode::Adaptive, 32);
        for _ in 0..10 {
            c.record(Signal::Answer(40 * MS), 1);
        }
        assert!(c.limit() <= 2, "{}", c.limit());
    }

    #[test]
    fn fixed_never_moves() {
        let mut c = Controller::new(Mode::Fixed, 6);
        c.record(Signal::Overload, 6);
        c.record(Signal::Answer(500 * MS), 6);
        c.record(Signal::Answer(MS), 6);
        assert_eq!(c.limit(), 6);
        assert_eq!(c.settled(), Some(6));
        assert_eq!(Controller::new(Mode::Fixed, 0).limit(), 1);
    }

    #[test]
    fn settled_is_the_average_limit_of_the_answers() {
        let mut c = Controller::new(Mode::Adaptive, 4);
        assert_eq!(c.settled(), None);
        for _ in 0..100 {
            c.record(Signal::Answer(40 * MS), 4);
        }
        assert_eq!(c.settled(), Some(4));
    }

    #[tokio::test]
    async fn the_gate_holds_the_limit_and_learns() {
        let l = Limiter::new(Controller::new(Mode::Fixed, 2));
        let a = l.acquire().await;
        let _b = l.acquire().await;
        let third = tokio::time::timeout(Duration::ZERO, l.acquire()).await;
        assert!(third.is_err(), "a third place was given under a limit of 2");
        a.done(false);
        let third = tokio::time::timeout(Duration::ZERO, l.acquire()).await;
        assert!(third.is_ok(), "the place given back was not given again");

        let l = Limiter::new(Controller::new(Mode::Adaptive, 8));
        assert_eq!(l.controller().limit(), 1);
        l.acquire().await.done(false);
        assert_eq!(
            l.controller().limit(),
            2,
            "an answer with nothing queued grows the limit"
        );
        l.acquire().await.done(true);
        assert_eq!(l.controller().limit(), 1, "an overload halves it");
    }
}
