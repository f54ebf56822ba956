//! Tables that can undo a unit of work.
//!
//! While a unit is open, each table remembers the value every key had
//! before the unit first touched it (`None`: the key did not exist). A
//! rollback puts those values back; a commit forgets them. Only the rows a
//! unit touches are copied, so a unit costs what it writes, not the size of
//! the store.

use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::hash::Hash;

/// A map whose writes inside a unit of work can be undone.
#[derive(Debug)]
pub(crate) struct Table<K, V> {
    rows: HashMap<K, V>,
    /// `Some` while a unit is open: the first-touch value of each key.
    undo: Option<HashMap<K, Option<V>>>,
}

impl<K, V> Default for Table<K, V> {
    fn default() -> Self {
        Self {
            rows: HashMap::new(),
            undo: None,
        }
    }
}

impl<K: Eq + Hash + Clone, V: Clone> Table<K, V> {
    /// Remembers `key`'s value before the unit's first write to it.
    fn touch(&mut self, key: &K) {
        if let Some(undo) = &mut self.undo
            && let Entry::Vacant(slot) = undo.entry(key.clone())
        {
            slot.insert(self.rows.get(key).cloned());
        }
    }

    pub fn get(&self, key: &K) -> Option<&V> {
        self.rows.get(key)
    }

    pub fn contains_key(&self, key: &K) -> bool {
        self.rows.contains_key(key)
    }

    pub fn values(&self) -> impl Iterator<Item = &V> {
        self.rows.values()
    }

    pub fn len(&self) -> usize {
        self.rows.len()
    }

    pub fn get_mut(&mut self, key: &K) -> Option<&mut V> {
        if self.rows.contains_key(key) {
            self.touch(key);
        }
        self.rows.get_mut(key)
    }

    /// The value of `key`, inserting `V::default()` first if there is none.
    pub fn get_or_default(&mut self, key: K) -> &mut V
    where
        V: Default,
    {
        self.touch(&key);
        self.rows.entry(key).or_default()
    }

    pub fn insert(&mut self, key: K, value: V) -> Option<V> {
        self.touch(&key);
        self.rows.insert(key, value)
    }

    pub fn remove(&mut self, key: &K) -> Option<V> {
        if self.rows.contains_key(key) {
            self.touch(key);
        }
        self.rows.remove(key)
    }

    /// Keeps the rows for which `keep` holds; removes the rest.
    pub fn retain(&mut self, mut keep: impl FnMut(&K, &V) -> bool) {
        let doomed: Vec<K> = self
            .rows
            .iter()
            .filter(|(k, v)| !keep(k, v))
            .map(|(k, _)| k.clone())
            .collect();
        for key in &doomed {
            self.remove(key);
        }
    }

    /// Applies `change` to every row `select` picks; returns how many
    /// changes reported a change.
    pub fn update_where(
        &mut self,
        select: impl Fn(&V) -> bool,
        mut change: impl FnMut(&mut V) -> bool,
    ) -> u64 {
        let picked: Vec<K> = self
            .rows
            .iter()
            .filter(|(_, v)| select(v))
            .map(|(k, _)| k.clone())
            .collect();
        let mut changed = 0;
        for key in &picked {
            if let Some(row) = self.get_mut(key)
                && change(row)
            {
                changed += 1;
            }
        }
        changed
    }

    /// The key of the first row `select` picks.
    pub fn find_key(&self, select: impl Fn(&V) -> bool) -> Option<K> {
        self.rows
            .iter()
            .find(|(_, v)| select(v))
            .map(|(k, _)| k.clone())
    }

    pub fn begin(&mut self) {
        self.undo = Some(HashMap::new());
    }

    pub fn commit(&mut self) {
        self.undo = None;
    }

    pub fn rollback(&mut self) {
        for (key, before) in self.undo.take().unwrap_or_default() {
            match before {
                Some(value) => self.rows.insert(key, value),
                None => self.rows.remove(&key),
            };
        }
    }
}

/// A list, appended to (and rarely pruned), whose changes inside a unit of
/// work can be undone.
#[derive(Debug)]
pub(crate) struct Log<T> {
    entries: Vec<T>,
    /// `Some` while a unit is open: the length when it began.
    mark: Option<usize>,
    /// The entries from before the unit, copied when the unit first
    /// removes entries ([`Log::retain`]): a rollback puts them back. A unit
    /// that only appends copies nothing.
    saved: Option<Vec<T>>,
}

impl<T> Default for Log<T> {
    fn default() -> Self {
        Self {
            entries: Vec::new(),
            mark: None,
            saved: None,
        }
    }
}

impl<T: Clone> Log<T> {
    pub fn push(&mut self, entry: T) {
        self.entries.push(entry);
    }

    pub fn iter(&self) -> impl Iterator<Item = &T> {
        self.entries.iter()
    }

    /// The entries, changeable in place (for the tamper helpers of the
    /// tests only: the log is append-only otherwise).
    #[cfg(feature = "testing")]
    pub fn iter_mut(&mut self) -> impl Iterator<Item = &mut T> {
        self.entries.iter_mut()
    }

    /// Inside a unit, copies the entries from before it, once, so a
    /// rollback restores them.
    fn save(&mut self) {
        if let Some(mark) = self.mark
            && self.saved.is_none()
        {
            self.saved = Some(self.entries[..mark].to_vec());
        }
    }

    /// Keeps the entries for which `keep` holds (the removal of archived
    /// audit events, and the tamper helpers of the tests); a rollback
    /// restores them.
    pub fn retain(&mut self, keep: impl FnMut(&T) -> bool) {
        self.save();
        self.entries.retain(keep);
    }

    /// Applies `change` to every entry (the erasure of personal fields of
    /// audit events); a rollback restores them.
    pub fn change_each(&mut self, change: impl FnMut(&mut T)) {
        self.save();
        self.entries.iter_mut().for_each(change);
    }

    pub fn begin(&mut self) {
        self.mark = Some(self.entries.len());
    }

    pub fn commit(&mut self) {
        self.mark = None;
        self.saved = None;
    }

    pub fn rollback(&mut self) {
        if let Some(saved) = self.saved.take() {
            self.entries = saved;
        } else if let Some(mark) = self.mark {
            self.entries.truncate(mark);
        }
        self.mark = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_rollback_restores_changed_removed_and_inserted_rows() {
        let mut t: Table<u8, &str> = Table::default();
        t.insert(1, "one");
        t.insert(2, "two");
        t.begin();
        *t.get_mut(&1).unwrap() = "uno";
        t.remove(&2);
        t.insert(3, "three");
        t.insert(1, "eins");
        t.rollback();
        let mut rows: Vec<_> = t.rows.iter().map(|(k, v)| (*k, *v)).collect();
        rows.sort_unstable();
        assert_eq!(rows, vec![(1, "one"), (2, "two")]);
    }

    #[test]
    fn a_commit_keeps_the_unit_and_later_rollbacks_do_not_undo_it() {
        let mut t: Table<u8, u8> = Table::default();
        t.begin();
        t.insert(1, 1);
        t.commit();
        t.rollback();
        assert_eq!(t.get(&1), Some(&1));
    }

    #[test]
    fn writes_outside_a_unit_are_not_remembered() {
        let mut t: Table<u8, u8> = Table::default();
        t.insert(1, 1);
        assert!(t.undo.is_none());
    }

    #[test]
    fn a_log_rollback_restores_the_entries_a_unit_removed() {
        let mut log = Log::default();
        log.push(1);
        log.push(2);
        log.push(3);
        log.begin();
        log.push(4);
        log.retain(|n| n % 2 == 0);
        log.push(6);
        log.retain(|n| *n != 2);
        assert_eq!(log.iter().copied().collect::<Vec<_>>(), vec![4, 6]);
        log.rollback();
        assert_eq!(log.iter().copied().collect::<Vec<_>>(), vec![1, 2, 3]);
    }

    #[test]
    fn a_log_commit_keeps_the_removals() {
        let mut log = Log::default();
        log.push(1);
        log.push(2);
        log.begin();
        log.retain(|n| *n != 1);
        log.commit();
        log.rollback();
        assert_eq!(log.iter().copied().collect::<Vec<_>>(), vec![2]);
    }

    #[test]
    fn a_log_rollback_drops_only_the_units_appends() {
        let mut log = Log::default();
        log.push(1);
        log.begin();
        log.push(2);
        log.push(3);
        log.rollback();
        assert_eq!(log.iter().copied().collect::<Vec<_>>(), vec![1]);
    }
}
