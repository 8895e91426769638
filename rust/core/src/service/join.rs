//! The reward join table: decisions waiting for their reward, and recently closed event
//! ids (to tell a late or duplicate reward from an unknown one).
//!
//! Both are kept in insertion order, as the Python service's `OrderedDict`s: a decision's
//! window runs out when it is the oldest open one and its deadline has passed, and a closed
//! id is forgotten one `reward_wait` after it closed. Removal from the middle (a joined
//! reward) is O(1): the order queues hold slots indexed by ticket, emptied on removal and
//! dropped when they reach the front, so the front is found without a lookup.
//!
//! An event id is stored once per table (an `Arc<str>` shared by the map and its order
//! queue) and moves from the pending table to the closed one without a copy, so a decision
//! costs one allocation for its id and a join or an expiry none.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;

/// A decision waiting for its reward.
#[derive(Debug, Clone, PartialEq)]
pub struct Pending {
    pub action: u32,
    pub context: Option<Box<[f64]>>,
    /// Service time at which the window closes.
    pub deadline: f64,
}

/// What the table knows of an event id.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Lookup<'a> {
    /// Waiting for its reward.
    Pending(&'a Pending),
    /// Closed: by a learned reward (`by_reward`) or by its window running out.
    Closed { by_reward: bool },
    /// Never seen, or forgotten.
    Unknown,
}

/// Entries in insertion order: a queue of slots (None once removed) indexed by ticket,
/// and a map from id to ticket. The front is found without hashing (removed slots are
/// popped off it); an id is hashed once per lookup, insertion or removal.
#[derive(Debug, Clone)]
struct Ordered<T> {
    map: HashMap<Arc<str>, u64>,
    entries: VecDeque<Option<(Arc<str>, T)>>,
    /// The ticket of `entries[0]`.
    first: u64,
}

impl<T> Ordered<T> {
    fn new() -> Self {
        Self {
            map: HashMap::new(),
            entries: VecDeque::new(),
            first: 0,
        }
    }

    fn len(&self) -> usize {
        self.map.len()
    }

    fn contains(&self, key: &str) -> bool {
        self.map.contains_key(key)
    }

    fn slot(&self, ticket: u64) -> Option<&(Arc<str>, T)> {
        self.entries.get((ticket - self.first) as usize)?.as_ref()
    }

    fn get(&self, key: &str) -> Option<&T> {
        let t = *self.map.get(key)?;
        self.slot(t).map(|(_, v)| v)
    }

    /// Inserts at the end; a key already present keeps its place (as `OrderedDict`).
    fn insert(&mut self, key: &str, value: T) {
        if let Some(&t) = self.map.get(key) {
            if let Some(Some((_, v))) = self.entries.get_mut((t - self.first) as usize) {
                *v = value;
            }
            return;
        }
        self.insert_new(Arc::from(key), value);
    }

    /// Inserts at the end an id known to be absent (no copy of the id).
    fn insert_new(&mut self, key: Arc<str>, value: T) {
        let ticket = self.first + self.entries.len() as u64;
        let previous = self.map.insert(Arc::clone(&key), ticket);
        debug_assert!(previous.is_none());
        self.entries.push_back(Some((key, value)));
    }

    fn remove(&mut self, key: &str) -> Option<(Arc<str>, T)> {
        let t = self.map.remove(key)?;
        let i = (t - self.first) as usize;
        self.entries.get_mut(i)?.take()
    }

    /// The oldest entry (dropping removed slots off the front).
    fn front(&mut self) -> Option<(&str, &T)> {
        while let Some(None) = self.entries.front() {
            self.entries.pop_front();
            self.first += 1;
        }
        let (key, value) = self.entries.front()?.as_ref()?;
        Some((key, value))
    }

    fn pop_front(&mut self) -> Option<(Arc<str>, T)> {
        self.front()?;
        let (key, value) = self.entries.pop_front()??;
        self.first += 1;
        self.map.remove(&*key);
        Some((key, value))
    }

    fn iter(&self) -> impl Iterator<Item = (&str, &T)> {
        self.entries.iter().flatten().map(|(k, v)| (&**k, v))
    }
}

/// Pending decisions and closed ids of a decision service, on the service's clock.
#[derive(Debug, Clone)]
pub struct JoinTable {
    reward_wait: f64,
    pending: Ordered<Pending>,
    closed: Ordered<(f64, bool)>,
}

impl JoinTable {
    /// An empty table whose decisions wait `reward_wait` seconds for their reward.
    pub fn new(reward_wait: f64) -> Self {
        Self {
            reward_wait,
            pending: Ordered::new(),
            closed: Ordered::new(),
        }
    }

    pub fn reward_wait(&self) -> f64 {
        self.reward_wait
    }

    /// Number of decisions waiting for their reward.
    pub fn n_pending(&self) -> usize {
        self.pending.len()
    }

    /// Number of closed ids remembered.
    pub fn n_closed(&self) -> usize {
        self.closed.len()
    }

    /// Whether the id is pending or remembered as closed (a new decision may not take it).
    pub fn in_use(&self, event_id: &str) -> bool {
        self.pending.contains(event_id) || self.closed.contains(event_id)
    }

    pub fn lookup(&self, event_id: &str) -> Lookup<'_> {
        if let Some(p) = self.pending.get(event_id) {
            return Lookup::Pending(p);
        }
        match self.closed.get(event_id) {
            Some(&(_, by_reward)) => Lookup::Closed { by_reward },
            None => Lookup::Unknown,
        }
    }

    /// Opens the window of a decision made at service time `now`. Returns false (and
    /// changes nothing) when the id is in use.
    pub fn open(&mut self, event_id: &str, action: u32, context: Option<&[f64]>, now: f64) -> bool {
        if self.in_use(event_id) {
            return false;
        }
        let p = Pending {
            action,
            context: context.map(Box::from),
            deadline: now + self.reward_wait,
        };
        self.pending.insert_new(Arc::from(event_id), p);
        true
    }

    /// Withdraws a pending decision as if it had never been made (its log record could
    /// not be written); returns it, or None when the id is not pending.
    pub fn cancel(&mut self, event_id: &str) -> Option<Pending> {
        self.pending.remove(event_id).map(|(_, p)| p)
    }

    /// Puts back a pending decision with its deadline (recovery from a snapshot).
    pub fn insert_pending(
        &mut self,
        event_id: &str,
        action: u32,
        context: Option<&[f64]>,
        deadline: f64,
    ) {
        let p = Pending {
            action,
            context: context.map(Box::from),
            deadline,
        };
        self.pending.insert(event_id, p);
    }

    /// Puts back a closed id (recovery from a snapshot).
    pub fn insert_closed(&mut self, event_id: &str, closed_at: f64, by_reward: bool) {
        self.closed.insert(event_id, (closed_at, by_reward));
    }

    /// Closes a pending decision by its reward at service time `now`; returns it, or None
    /// when the id is not pending (nothing changes).
    pub fn join(&mut self, event_id: &str, now: f64) -> Option<Pending> {
        let (key, p) = self.pending.remove(event_id)?;
        self.closed.insert_new(key, (now, true));
        Some(p)
    }

    /// The oldest pending decision if its window has run out by `now` (left pending).
    pub fn oldest_due(&mut self, now: f64) -> Option<&Pending> {
        let (_, p) = self.pending.front()?;
        (p.deadline <= now).then_some(p)
    }

    /// The oldest pending decision if its window has run out by `now`, closed (without a
    /// reward) and returned; None when the oldest is still open.
    pub fn expire_next(&mut self, now: f64) -> Option<(Arc<str>, Pending)> {
        let (_, p) = self.pending.front()?;
        if p.deadline > now {
            return None;
        }
        let (event_id, p) = self.pending.pop_front()?;
        self.closed.insert_new(Arc::clone(&event_id), (now, false));
        Some((event_id, p))
    }

    /// Forgets the ids closed `reward_wait` or more before `now`; returns how many.
    pub fn forget_closed(&mut self, now: f64) -> usize {
        let mut n = 0;
        while let Some((_, &(t, _))) = self.closed.front() {
            if t + self.reward_wait > now {
                break;
            }
            self.closed.pop_front();
            n += 1;
        }
        n
    }

    /// Pending decisions, oldest first (for snapshots).
    pub fn pending(&self) -> impl Iterator<Item = (&str, &Pending)> {
        self.pending.iter()
    }

    /// Closed ids with (service time closed, closed by a reward), oldest first.
    pub fn closed(&self) -> impl Iterator<Item = (&str, f64, bool)> {
        self.closed.iter().map(|(k, &(t, b))| (k, t, b))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reward_inside_the_window_joins_once_then_is_a_duplicate() {
        let mut t = JoinTable::new(10.0);
        assert!(t.open("a", 2, Some(&[1.0, 2.0]), 0.0));
        assert!(!t.open("a", 1, None, 0.5), "an id in use is refused");
        let Lookup::Pending(p) = t.lookup("a") else {
            panic!("a is pending")
        };
        assert_eq!((p.action, p.deadline), (2, 10.0));
        let p = t.join("a", 3.0).unwrap();
        assert_eq!(p.context.as_deref(), Some(&[1.0, 2.0][..]));
        assert_eq!(t.lookup("a"), Lookup::Closed { by_reward: true });
        assert!(t.join("a", 4.0).is_none());
        assert!(!t.open("a", 0, None, 4.0), "a closed id stays in use");
        assert_eq!(t.lookup("b"), Lookup::Unknown);
    }

    #[test]
    fn windows_run_out_in_order_at_their_deadline_not_before() {
        let mut t = JoinTable::new(10.0);
        for (i, eid) in ["a", "b", "c"].iter().enumerate() {
            assert!(t.open(eid, i as u32, None, i as f64));
        }
        t.join("a", 0.5); // joined: no longer pending, skipped by the expiry
        assert!(t.expire_next(10.9).is_none(), "b's deadline is 11");
        let (eid, p) = t.expire_next(11.0).unwrap();
        assert_eq!((&*eid, p.action), ("b", 1));
        assert_eq!(t.lookup("b"), Lookup::Closed { by_reward: false });
        assert!(t.expire_next(11.5).is_none());
        assert_eq!(&*t.expire_next(12.0).unwrap().0, "c");
        assert_eq!(t.n_pending(), 0);
    }

    #[test]
    fn closed_ids_are_forgotten_one_window_after_closing() {
        let mut t = JoinTable::new(5.0);
        t.open("a", 0, None, 0.0);
        t.open("b", 0, None, 0.0);
        t.join("a", 1.0);
        t.join("b", 2.0);
        assert_eq!(t.forget_closed(5.9), 0);
        assert_eq!(t.forget_closed(6.0), 1);
        assert_eq!(t.lookup("a"), Lookup::Unknown);
        assert_eq!(t.lookup("b"), Lookup::Closed { by_reward: true });
        assert_eq!(t.forget_closed(7.0), 1);
        assert_eq!(t.n_closed(), 0);
        assert!(
            t.open("a", 1, None, 7.0),
            "a forgotten id can be used again"
        );
    }

    #[test]
    fn iteration_is_insertion_order_without_removed_entries() {
        let mut t = JoinTable::new(1.0);
        for eid in ["d", "a", "c", "b"] {
            t.open(eid, 0, None, 0.0);
        }
        t.join("c", 0.5);
        t.join("d", 0.6);
        let pending: Vec<&str> = t.pending().map(|(k, _)| k).collect();
        assert_eq!(pending, ["a", "b"]);
        let closed: Vec<(&str, f64, bool)> = t.closed().collect();
        assert_eq!(closed, [("c", 0.5, true), ("d", 0.6, true)]);
        // Restoring from a snapshot keeps the order and the given deadlines.
        let mut r = JoinTable::new(1.0);
        for (k, p) in t.pending() {
            r.insert_pending(k, p.action, p.context.as_deref(), p.deadline);
        }
        assert_eq!(
            r.expire_next(1.0).map(|(k, _)| k.to_string()),
            Some("a".into())
        );
    }

    #[test]
    fn matches_a_reference_model_on_a_long_random_sequence() {
        // Reference: linear scans over Vecs in insertion order (what the OrderedDicts do).
        let mut t = JoinTable::new(3.0);
        let mut pend: Vec<(String, f64)> = Vec::new();
        let mut closed: Vec<(String, f64, bool)> = Vec::new();
        let mut x: u64 = 12345;
        let mut now = 0.0;
        for _ in 0..20_000 {
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let id = format!("e{}", (x >> 33) % 300);
            now += ((x >> 20) % 100) as f64 / 100.0;
            match (x >> 60) % 3 {
                0 => {
                    let used = pend.iter().any(|p| p.0 == id) || closed.iter().any(|c| c.0 == id);
                    assert_eq!(t.open(&id, 0, None, now), !used);
                    if !used {
                        pend.push((id, now + 3.0));
                    }
                }
                1 => {
                    let i = pend.iter().position(|p| p.0 == id);
                    assert_eq!(t.join(&id, now).is_some(), i.is_some());
                    if let Some(i) = i {
                        pend.remove(i);
                        closed.push((id, now, true));
                    }
                }
                _ => {
                    while let Some(p) = pend.first().filter(|p| p.1 <= now).cloned() {
                        assert_eq!(
                            t.expire_next(now).map(|e| e.0.to_string()),
                            Some(p.0.clone())
                        );
                        pend.remove(0);
                        closed.push((p.0, now, false));
                    }
                    assert!(t.expire_next(now).is_none());
                    let n = closed.iter().take_while(|c| c.1 + 3.0 <= now).count();
                    assert_eq!(t.forget_closed(now), n);
                    closed.drain(..n);
                }
            }
            assert_eq!(t.n_pending(), pend.len());
            assert_eq!(t.n_closed(), closed.len());
        }
        let ids: Vec<String> = t.pending().map(|(k, _)| k.to_string()).collect();
        assert_eq!(ids, pend.iter().map(|p| p.0.clone()).collect::<Vec<_>>());
    }
}
