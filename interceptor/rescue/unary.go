package rescue

import (
	"context"

	"google.golang.org/grpc"
	"google.golang.org/protobuf/proto"
)

// UnaryClientInterceptor returns the interceptor that rescues unary calls.
func (s *Interceptor) UnaryClientInterceptor() grpc.UnaryClientInterceptor {
	return func(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
		w, learn := s.allow(ctx, method)
		switch {
		case learn != nil:
			start := s.cfg.Clock.Now()
			err := invoker(ctx, method, req, reply, cc, opts...)
			if err == nil {
				learn.observe(s.cfg.Clock.Now().Sub(start))
			}
			return err
		case w == nil:
			return invoker(ctx, method, req, reply, cc, opts...)
		}
		w.arm()
		err := invoker(w.actx, method, req, reply, cc, opts...)
		w.release()
		if !w.end(err) {
			return err
		}
		if m, ok := reply.(proto.Message); ok {
			proto.Reset(m) // nothing of the failed attempt's reply stays
		}
		since := s.cfg.Clock.Now()
		err = invoker(w.rescueContext(), method, req, reply, cc, opts...)
		w.rescued(err, since)
		return err
	}
}
