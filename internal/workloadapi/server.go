package workloadapi

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"
)

// Server timeouts. WriteTimeout must outlast the longest GET ?wait= (MaxWait)
// with room for the read and the answer; the others bound what a slow or
// idle client can hold.
const (
	readHeaderTimeout = 5 * time.Second
	readTimeout       = 15 * time.Second
	writeMargin       = 30 * time.Second
	idleTimeout       = 2 * time.Minute
	shutdownTimeout   = 10 * time.Second
	maxHeaderBytes    = 32 << 10 // a token is up to 16 KiB
)

// Server serves the API on an address (JIT_API_ADDR once the app wires it).
type Server struct {
	srv *http.Server
}

// NewServer returns a server for h on addr, with timeouts that let a
// GET wait up to maxWait (Limits.MaxWait, or DefaultMaxWait if zero).
func NewServer(addr string, h http.Handler, maxWait time.Duration) *Server {
	if maxWait <= 0 {
		maxWait = DefaultMaxWait
	}
	return &Server{srv: &http.Server{
		Addr:              addr,
		Handler:           h,
		ReadHeaderTimeout: readHeaderTimeout,
		ReadTimeout:       readTimeout,
		WriteTimeout:      maxWait + writeMargin,
		IdleTimeout:       idleTimeout,
		MaxHeaderBytes:    maxHeaderBytes,
	}}
}

// Run listens on the server's address and serves until ctx ends, then
// shuts down, letting requests in flight finish for up to ten seconds.
func (s *Server) Run(ctx context.Context) error {
	ln, err := net.Listen("tcp", s.srv.Addr)
	if err != nil {
		return fmt.Errorf("workload API: %w", err)
	}
	return s.Serve(ctx, ln)
}

// Serve is Run on a listener of the caller's.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	done := make(chan error, 1)
	go func() { done <- s.srv.Serve(ln) }()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), shutdownTimeout)
	defer cancel()
	if err := s.srv.Shutdown(sctx); err != nil {
		return fmt.Errorf("workload API: shutting down: %w", err)
	}
	if err := <-done; !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}
