package sqlite

import (
	"context"
	"database/sql/driver"
	"fmt"

	"github.com/mattn/go-sqlite3"
)

// connector opens connections to one database with a driver of its own, so
// that its ConnectHook applies to these connections only.
type connector struct {
	dsn string
	drv *sqlite3.SQLiteDriver
}

var _ driver.Connector = (*connector)(nil)

// newConnector opens connections with dsn and then runs pragmas, which the
// driver's DSN has no parameter for, on each (database/sql may open a
// connection again at any time).
func newConnector(dsn string, pragmas ...string) *connector {
	return &connector{dsn: dsn, drv: &sqlite3.SQLiteDriver{ConnectHook: func(c *sqlite3.SQLiteConn) error {
		for _, p := range pragmas {
			if _, err := c.Exec(p, nil); err != nil {
				return fmt.Errorf("%s: %w", p, err)
			}
		}
		return nil
	}}}
}

func (c *connector) Connect(context.Context) (driver.Conn, error) { return c.drv.Open(c.dsn) }

func (c *connector) Driver() driver.Driver { return c.drv }
