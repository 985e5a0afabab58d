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
//! connection dropped at the service's full accept queue is retried a second later). A request
//! unanswered that long is counted lost then, and its place given to another, rather than held
//! until the late answer ([`Gate::take`]). A loss leaves at most half of what was in flight
//! when it was sent (no less when queued answers already shrank the limit for the same
//! overload); losses of requests sent before the last halving are the same event and do not
//! halve again. It stays between 1 and the configured ceiling.
//!
//! Requests leave paced ([`Pacer`]): one per smallest latency over the limit, spread over the
//! round trip rather than in bursts (a burst of answers, or slow start, would free many places
//! at once), so they reach the service evenly and a short accept queue does not overflow.
//!
//! So over a slow link (latency from the wire, not from the service) the limit climbs until the
//! service itself starts to queue or to drop; against a service that runs one request at a time
//! the latency doubles at 2 in flight, and the limit holds at 1 or 2 instead of piling requests
//! up. A fixed limit (`intranet.scim.adaptive: false`) never moves.

use std::collections::BTreeMap;
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
/// At most this many queued requests, whatever the limit, below which it grows …
const ALPHA_MAX: f64 = 3.0;
/// … and above which it shrinks.
const BETA_MAX: f64 = 6.0;
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

    /// Time between two requests leaving ([`Pacer`]): the smallest latency over the limit, so
    /// that the limit's requests are spread over one round trip instead of leaving together.
    /// None at a limit of 1 (a request leaves when the one before is answered), before the first
    /// answer, and with a fixed limit.
    pub fn pace(&self) -> Duration {
        match (self.mode, self.min) {
            (Mode::Adaptive, Some(min)) if self.limit() > 1 => {
                Duration::from_secs_f64(min / self.limit)
            }
            _ => Duration::ZERO,
        }
    }

    /// How long a request may go unanswered before it counts as lost: many times both the
    /// smallest and the recent latency (`None` before the first answer, and with a fixed
    /// limit, which never moves).
    pub fn lost_after(&self) -> Option<Duration> {
        match (self.mode, self.min, self.recent) {
            (Mode::Adaptive, Some(min), Some(recent)) => Some(Duration::from_secs_f64(
                (SPIKE * min).max(SPIKE / 2.0 * recent),
            )),
            _ => None,
        }
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

    /// After a loss by a request that started with `in_flight` in flight, at `epoch`: at most
    /// half of that in flight; nothing when the limit was already halved since it started. The
    /// halving is of what was in flight then, not of what the limit grew to while the answer
    /// was late, nor of what the limit already shrank to as the same overload queued answers.
    fn back_off(&mut self, in_flight: usize, epoch: u64) {
        if epoch < self.epoch {
            return;
        }
        self.epoch += 1;
        self.slow_start = false;
        let base = in_flight.max(1) as f64;
        self.loss_at = Some(base);
        self.limit = self.limit.min(base / 2.0).max(1.0);
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
                if let Some(lost_after) = self.lost_after() {
                    if latency > lost_after {
                        // Not a latency: left out of the recent one, or the second it took
                        // would read as a long queue and shrink the limit answer after answer.
                        self.back_off(in_flight, epoch);
                        return;
                    }
                }
                self.min = Some(self.min.map_or(l, |m| m.min(l)));
                self.recent = Some(self.recent.map_or(l, |r| r + SMOOTHING * (l - r)));
                // Grow while the recent latency is within about 18 % of the minimum, shrink
                // beyond about 43 %: a service that serialises doubles the latency at 2 in
                // flight and holds the limit at 1 or 2.
                let alpha = (ALPHA * self.limit).min(ALPHA_MAX);
                let beta = (BETA * self.limit).min(BETA_MAX);
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

/// When requests may leave: no sooner than one pace after the one before (as TCP BBR paces
/// its packets). Without it, the places freed by a burst of answers (or by the limit growing)
/// send a burst of requests; over a link they reach the service together, and a service with a
/// short accept queue drops the connections past it. Pure: the caller gives the clock.
#[derive(Debug, Clone, Default)]
pub struct Pacer {
    /// The soonest the next request may leave.
    next: Option<Instant>,
}

impl Pacer {
    /// Book a departure for a request ready at `now`, `pace` after the last one booked: the
    /// instant it may leave (`now` when the last one left long enough ago; idle time is not
    /// saved up for a burst).
    pub fn book(&mut self, now: Instant, pace: Duration) -> Instant {
        let at = self.next.map_or(now, |next| next.max(now));
        self.next = Some(at + pace);
        at
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

/// The gate's bookkeeping, pure (the caller gives the clock): the controller, the pacer and the
/// requests holding a place.
#[derive(Debug)]
pub struct Gate {
    ctl: Controller,
    pacer: Pacer,
    /// Requests holding a place, by ticket number (the order they were given a place in).
    open: BTreeMap<u64, Ticket>,
    next: u64,
}

/// A place given: when the request may leave, and what the controller needs of its start.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ticket {
    pub id: u64,
    /// When it may leave ([`Pacer`]).
    pub at: Instant,
    /// Requests holding a place with it, itself included.
    pub in_flight: usize,
    /// [`Controller::epoch`] when it was given.
    pub epoch: u64,
}

impl Gate {
    pub fn new(ctl: Controller) -> Gate {
        Gate {
            ctl,
            pacer: Pacer::default(),
            open: BTreeMap::new(),
            next: 0,
        }
    }

    pub fn controller(&self) -> &Controller {
        &self.ctl
    }

    /// Requests holding a place.
    #[cfg(test)]
    pub fn in_flight(&self) -> usize {
        self.open.len()
    }

    /// A place for a request ready at `now`, or, when all are taken, the instant the oldest
    /// request will be overdue (`None`: wait for a place to be given back).
    ///
    /// A request unanswered [`Controller::lost_after`] after it left is lost: as TCP counts a
    /// segment lost at its retransmission timeout rather than when a late acknowledgment comes,
    /// the limit is halved then and its place given to another (a connection dropped at the
    /// service's full accept queue is retried only a second later; holding its place that
    /// second would stall the others). The client's ceiling on all requests in flight still
    /// holds.
    pub fn take(&mut self, now: Instant) -> Result<Ticket, Option<Instant>> {
        while self.open.len() >= self.ctl.limit() {
            let Some(lost_after) = self.ctl.lost_after() else {
                return Err(None);
            };
            let Some((&id, oldest)) = self.open.first_key_value() else {
                return Err(None);
            };
            let due = oldest.at + lost_after;
            if due > now {
                return Err(Some(due));
            }
            // Lost among all those in flight now (the first of a burst left with few ahead).
            let (in_flight, epoch) = (oldest.in_flight.max(self.open.len()), oldest.epoch);
            self.open.remove(&id);
            self.ctl.record_from(Signal::Overload, in_flight, epoch);
        }
        let ticket = Ticket {
            id: self.next,
            at: self.pacer.book(now, self.ctl.pace()),
            in_flight: self.open.len() + 1,
            epoch: self.ctl.epoch(),
        };
        self.next += 1;
        self.open.insert(ticket.id, ticket);
        Ok(ticket)
    }

    /// The request of `ticket` is over, with `signal`: its place is given back (unless it was
    /// already counted lost).
    pub fn done(&mut self, ticket: &Ticket, signal: Signal) {
        self.ctl.record_from(signal, ticket.in_flight, ticket.epoch);
        self.give_back(ticket);
    }

    /// Give the place of `ticket` back, unmeasured.
    pub fn give_back(&mut self, ticket: &Ticket) {
        self.open.remove(&ticket.id);
    }
}

/// The gate requests wait at: at most the controller's limit in flight, leaving paced.
#[derive(Debug)]
pub struct Limiter {
    gate: Mutex<Gate>,
    freed: Notify,
}

/// A place in flight; give it back with [`Permit::done`] (or drop it: no measurement).
pub struct Permit<'a> {
    limiter: &'a Limiter,
    ticket: Ticket,
    start: Instant,
}

impl Limiter {
    pub fn new(ctl: Controller) -> Limiter {
        Limiter {
            gate: Mutex::new(Gate::new(ctl)),
            freed: Notify::new(),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Gate> {
        self.gate.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Wait for a place in flight, then for its turn to leave ([`Pacer`]).
    pub async fn acquire(&self) -> Permit<'_> {
        loop {
            let freed = self.freed.notified();
            tokio::pin!(freed);
            // Registered before the check, so a place freed in between is not missed.
            freed.as_mut().enable();
            let now = Instant::now();
            let taken = self.lock().take(now);
            match taken {
                Ok(ticket) => {
                    // The place is held while it waits (dropped, it is given back); its
                    // latency is measured from when it leaves.
                    let mut permit = Permit {
                        limiter: self,
                        ticket,
                        start: now,
                    };
                    if ticket.at > now {
                        tokio::time::sleep_until(ticket.at.into()).await;
                        permit.start = Instant::now();
                    }
                    return permit;
                }
                Err(Some(due)) => {
                    tokio::select! {
                        () = &mut freed => {}
                        () = tokio::time::sleep_until(due.into()) => {}
                    }
                }
                Err(None) => freed.await,
            }
        }
    }

    /// The controller as it stands (for the summary of a run).
    pub fn controller(&self) -> Controller {
        self.lock().controller().clone()
    }
}

impl Permit<'_> {
    /// The request is over: `overload` when it was answered 429 or 503 or timed out, otherwise
    /// its latency (from when it left) is measured.
    pub fn done(self, overload: bool) {
        let signal = if overload {
            Signal::Overload
        } else {
            Signal::Answer(self.start.elapsed())
        };
        self.limiter.lock().done(&self.ticket, signal);
        // `self` drops here and wakes the waiters.
    }
}

impl Drop for Permit<'_> {
    fn drop(&mut self) {
        self.limiter.lock().give_back(&self.ticket);
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

    /// A controller at limit 10 whose smallest latency is 40 ms.
    fn at_ten() -> Controller {
        let (c, _) = run(
            Controller::new(Mode::Adaptive, 10),
            200,
            40 * MS,
            Duration::ZERO,
            64,
        );
        assert_eq!(c.limit(), 10);
        c
    }

    #[test]
    fn requests_leave_paced_over_the_round_trip() {
        let mut gate = Gate::new(at_ten());
        let now = Instant::now();
        let tickets: Vec<Ticket> = (0..10).map(|_| gate.take(now).unwrap()).collect();
        let at: Vec<Duration> = tickets.iter().map(|t| t.at - now).collect();
        let expected: Vec<Duration> = (0..10).map(|i| 4 * MS * i).collect();
        assert_eq!(at, expected, "10 places at once leave 4 ms apart");
        assert_eq!(gate.in_flight(), 10);
        assert!(gate.take(now).is_err(), "an eleventh place");
        // Idle time is not saved up: long after, the next leaves at once, the one after paced.
        for ticket in &tickets {
            gate.done(ticket, Signal::Answer(40 * MS));
        }
        let later = now + Duration::from_secs(1);
        assert_eq!(gate.take(later).unwrap().at, later);
        assert_eq!(gate.take(later).unwrap().at, later + 4 * MS);
    }

    #[test]
    fn pacing_never_holds_back_a_limit_of_one() {
        let c = Controller::new(Mode::Adaptive, 1);
        let (c, _) = run(c, 50, 40 * MS, Duration::ZERO, 64);
        assert_eq!(c.pace(), Duration::ZERO);
        let mut gate = Gate::new(c);
        let now = Instant::now();
        for i in 0..5 {
            let t = now + 40 * MS * i;
            let ticket = gate.take(t).unwrap();
            assert_eq!(ticket.at, t, "request {i} held back");
            gate.done(&ticket, Signal::Answer(40 * MS));
        }
        // Fixed limits are not paced either.
        assert_eq!(Controller::new(Mode::Fixed, 8).pace(), Duration::ZERO);
        let mut p = Pacer::default();
        assert_eq!(p.book(now, 4 * MS), now);
        assert_eq!(p.book(now, 4 * MS), now + 4 * MS);
        assert_eq!(
            p.book(now + Duration::from_secs(1), 4 * MS),
            now + Duration::from_secs(1)
        );
    }

    #[test]
    fn an_overload_through_the_gate_halves_and_slows_the_pace() {
        let mut gate = Gate::new(at_ten());
        let now = Instant::now();
        let t = gate.take(now).unwrap();
        assert_eq!(gate.controller().pace(), 4 * MS);
        gate.done(&t, Signal::Overload);
        assert_eq!(
            gate.controller().limit(),
            1,
            "lost with 1 in flight: at most half of it"
        );
        assert_eq!(gate.in_flight(), 0);
        let mut gate = Gate::new(at_ten());
        let tickets: Vec<Ticket> = (0..10).map(|_| gate.take(now).unwrap()).collect();
        gate.done(&tickets[9], Signal::Overload);
        assert_eq!(gate.controller().limit(), 5);
        assert_eq!(gate.controller().pace(), 8 * MS);
    }

    #[test]
    fn an_overdue_request_is_lost_once_and_gives_its_place_back() {
        let mut gate = Gate::new(at_ten());
        let now = Instant::now();
        let tickets: Vec<Ticket> = (0..10).map(|_| gate.take(now).unwrap()).collect();
        // Full: wait for a place, or until the oldest is overdue (4 × 40 ms after it left).
        let due = now + 160 * MS;
        assert_eq!(gate.take(now + 50 * MS), Err(Some(due)));
        // Overdue (its connection dropped, retried a second later): lost, the limit halved once
        // (all ten left at the same limit), and places given to others.
        assert_eq!(
            gate.take(due),
            Err(Some(due + 4 * MS)),
            "nine still hold a place"
        );
        assert_eq!(gate.controller().limit(), 5);
        assert_eq!(gate.in_flight(), 9);
        // Once all ten are overdue, as many as it takes to free a place under the new limit
        // are lost too; the limit was halved once only.
        let t = gate.take(due + 36 * MS).unwrap();
        assert_eq!(gate.controller().limit(), 5);
        assert_eq!(gate.controller().epoch(), 1);
        assert_eq!(gate.in_flight(), 5);
        assert_eq!(t.epoch, 1);
        // The late answers change nothing more: the same loss event, and not a latency.
        for ticket in &tickets {
            gate.done(ticket, Signal::Answer(Duration::from_millis(1040)));
        }
        assert_eq!(gate.controller().limit(), 5);
        // Answers at the usual latency after it: the limit does not collapse, it grows back.
        let mut c = gate.controller().clone();
        for _ in 0..100 {
            c.record(Signal::Answer(41 * MS), 5);
        }
        assert!(c.limit() >= 5, "collapsed to {}", c.limit());
        assert!(c.lost_after().unwrap() < 200 * MS, "{:?}", c.lost_after());
    }

    #[test]
    fn a_loss_after_latency_already_cut_the_limit_does_not_cut_again() {
        let mut c = at_ten();
        // Queued answers shrank the limit to 4; then a request sent with 10 in flight is lost.
        for _ in 0..6 {
            c.record(Signal::Answer(80 * MS), 10);
        }
        let shrunk = c.limit();
        assert!(shrunk <= 5, "{shrunk}");
        c.record(Signal::Overload, 10);
        assert_eq!(c.limit(), shrunk);
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
