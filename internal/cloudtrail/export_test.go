package cloudtrail

import "time"

func SetClock(w *Watcher, now func() time.Time) { w.now = now }
