package main

import (
	"io"
	"net"
	"sync"
	"sync/atomic"
)

// tripCounter is a TCP proxy in front of Redis that counts round trips:
// on each connection, every run of client bytes that follows the server's
// answer (or opens the connection) is one trip, however many commands a
// pipeline packs into it. INFO commandstats cannot tell this: it counts
// the commands a Lua script runs as well as the script.
type tripCounter struct {
	ln       net.Listener
	upstream string
	trips    atomic.Int64
	wg       sync.WaitGroup

	mu    sync.Mutex
	conns map[net.Conn]bool
	done  bool
}

func newTripCounter(upstream string) (*tripCounter, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	c := &tripCounter{ln: ln, upstream: upstream, conns: map[net.Conn]bool{}}
	c.wg.Add(1)
	go c.accept()
	return c, nil
}

// Addr is host:port to connect to instead of Redis.
func (c *tripCounter) Addr() string { return c.ln.Addr().String() }

// Trips is the number of round trips so far, over all connections.
func (c *tripCounter) Trips() int64 { return c.trips.Load() }

func (c *tripCounter) Close() {
	c.ln.Close()
	c.mu.Lock()
	c.done = true
	for conn := range c.conns {
		conn.Close()
	}
	c.mu.Unlock()
	c.wg.Wait()
}

func (c *tripCounter) track(conn net.Conn) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.done {
		conn.Close()
		return false
	}
	c.conns[conn] = true
	return true
}

func (c *tripCounter) untrack(conns ...net.Conn) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, conn := range conns {
		delete(c.conns, conn)
	}
}

func (c *tripCounter) accept() {
	defer c.wg.Done()
	for {
		client, err := c.ln.Accept()
		if err != nil {
			return
		}
		c.wg.Add(1)
		go func() {
			defer c.wg.Done()
			c.serve(client)
		}()
	}
}

func (c *tripCounter) serve(client net.Conn) {
	server, err := net.Dial("tcp", c.upstream)
	if err != nil {
		client.Close()
		return
	}
	if !c.track(client) || !c.track(server) {
		client.Close()
		server.Close()
		return
	}
	defer c.untrack(client, server)
	// answered is set when the server has written since the client last
	// did: the client's next bytes start a new trip.
	var answered atomic.Bool
	answered.Store(true)
	var wg sync.WaitGroup
	wg.Go(func() {
		pipe(server, client, func() {
			if answered.Swap(false) {
				c.trips.Add(1)
			}
		})
		server.Close()
	})
	pipe(client, server, func() { answered.Store(true) })
	client.Close()
	wg.Wait()
}

// pipe copies src to dst, calling saw before forwarding each read.
func pipe(dst io.Writer, src io.Reader, saw func()) {
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			saw()
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return // EOF or a closed connection: the other side is closed by the caller
		}
	}
}
