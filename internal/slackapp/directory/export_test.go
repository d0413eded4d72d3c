package directory

import "time"

// SetNow replaces the clock the caches read.
func (d *Directory) SetNow(now func() time.Time) { d.now = now }
