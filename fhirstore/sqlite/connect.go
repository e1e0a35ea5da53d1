package sqlite

import (
	"context"
	"database/sql/driver"

	"github.com/mattn/go-sqlite3"
)

// connector opens connections to one database with a driver of its own, so
// that its ConnectHook applies to these connections only.
type connector struct {
	dsn string
	drv *sqlite3.SQLiteDriver
}

var _ driver.Connector = (*connector)(nil)

func (c *connector) Connect(context.Context) (driver.Conn, error) { return c.drv.Open(c.dsn) }

func (c *connector) Driver() driver.Driver { return c.drv }
