/* loop.c: see loop.h.  Nothing here allocates once the loop runs. */
#include "attach/loop.h"

#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdint.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/timerfd.h>
#include <unistd.h>

enum { TAG_SIGNAL = 1, TAG_TICK, TAG_DEADLINE, TAG_TRACER };

struct loop_fds {
	int ep, sig, tick, deadline; /* deadline: -1 without a duration */
};

/* The signals that end a run. */
static void loop_signal_set(sigset_t *set)
{
	sigemptyset(set);
	sigaddset(set, SIGINT);
	sigaddset(set, SIGTERM);
	sigaddset(set, SIGHUP);
}

void loop_block_signals(void)
{
	sigset_t set;

	loop_signal_set(&set);
	sigaddset(&set, SIGCHLD);
	sigprocmask(SIG_BLOCK, &set, NULL);
}

static struct timespec seconds_ts(double s)
{
	struct timespec ts;

	ts.tv_sec = (time_t)s;
	ts.tv_nsec = (long)((s - (double)ts.tv_sec) * 1e9);
	if (ts.tv_nsec >= 1000000000L)
		ts.tv_nsec = 999999999L;
	if (ts.tv_sec == 0 && ts.tv_nsec == 0)
		ts.tv_nsec = 1; /* all zero would disarm the timer */
	return ts;
}

static int check_opts(const struct loop_opts *o, struct tg_err *err)
{
	sigset_t want, cur;

	if (!o->tick || !isfinite(o->rate_hz) || o->rate_hz <= 0 || o->rate_hz > 1e6)
		return tg_err_set(err, TG_E_USAGE, "event loop: rate must be in (0, 1000000] Hz");
	if (isnan(o->duration_s) || o->duration_s > 1e9)
		return tg_err_set(err, TG_E_USAGE, "event loop: bad duration %g s", o->duration_s);
	loop_signal_set(&want);
	sigaddset(&want, SIGCHLD);
	sigprocmask(SIG_BLOCK, NULL, &cur);
	for (int s = 1; s < NSIG; s++)
		if (sigismember(&want, s) == 1 && sigismember(&cur, s) != 1)
			return tg_err_set(err, TG_E_INTERNAL,
					  "event loop: signal %d is not blocked (call "
					  "loop_block_signals first)",
					  s);
	return 0;
}

static int watch(int ep, int fd, int tag, struct tg_err *err)
{
	struct epoll_event ev;

	memset(&ev, 0, sizeof ev);
	ev.events = EPOLLIN;
	ev.data.u32 = (uint32_t)tag;
	if (epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) < 0)
		return tg_err_sys(err, TG_E_INTERNAL, "event loop: epoll_ctl");
	return 0;
}

static int arm(int fd, double first_s, double period_s, struct tg_err *err)
{
	struct itimerspec its;

	memset(&its, 0, sizeof its);
	its.it_value = seconds_ts(first_s);
	if (period_s > 0)
		its.it_interval = seconds_ts(period_s);
	if (timerfd_settime(fd, 0, &its, NULL) < 0)
		return tg_err_sys(err, TG_E_INTERNAL, "event loop: timerfd_settime");
	return 0;
}

static void close_fds(struct loop_fds *f)
{
	int *fds[] = {&f->ep, &f->sig, &f->tick, &f->deadline};

	for (size_t i = 0; i < sizeof fds / sizeof fds[0]; i++) {
		if (*fds[i] >= 0)
			close(*fds[i]);
		*fds[i] = -1;
	}
}

static int open_fds(struct loop_fds *f, struct tracer *tr, const struct loop_opts *o,
		    struct tg_err *err)
{
	sigset_t set;

	loop_signal_set(&set);
	f->ep = epoll_create1(EPOLL_CLOEXEC);
	f->sig = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
	f->tick = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	f->deadline =
	    o->duration_s > 0 ? timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC) : -1;
	if (f->ep < 0 || f->sig < 0 || f->tick < 0 || (o->duration_s > 0 && f->deadline < 0))
		return tg_err_sys(err, TG_E_INTERNAL, "event loop: create epoll/signalfd/timerfd");
	if (watch(f->ep, f->sig, TAG_SIGNAL, err) < 0 || watch(f->ep, f->tick, TAG_TICK, err) < 0 ||
	    watch(f->ep, tracer_fd(tr), TAG_TRACER, err) < 0)
		return -1;
	if (f->deadline >= 0 && (watch(f->ep, f->deadline, TAG_DEADLINE, err) < 0 ||
				 arm(f->deadline, o->duration_s, 0, err) < 0))
		return -1;
	return arm(f->tick, 1.0 / o->rate_hz, 1.0 / o->rate_hz, err);
}

/* Drain the signalfd; returns the first ending signal or 0. */
static int read_signals(int fd)
{
	struct signalfd_siginfo si[8];
	int end = 0;
	ssize_t got;

	while ((got = read(fd, si, sizeof si)) > 0) {
		for (size_t i = 0; i < (size_t)got / sizeof si[0] && !end; i++)
			end = (int)si[i].ssi_signo;
	}
	return end;
}

/* 1 when the timerfd expired (once or many times: an overrun is one tick, not a burst). */
static int read_timer(int fd)
{
	uint64_t expirations = 0;

	return read(fd, &expirations, sizeof expirations) == sizeof expirations && expirations > 0;
}

static enum loop_end run(struct tracer *tr, const struct loop_opts *o, struct loop_fds *f,
			 int *signo, struct tg_err *err)
{
	int events = 1, tick = 0, deadline = 0, end = 0;

	for (;;) {
		struct epoll_event ev[4];
		int n, r;

		if (events && o->on_event)
			tracer_events(tr, o->on_event, o->ctx);
		events = 0;
		if (tracer_error(tr, err) < 0)
			return LOOP_END_ERROR;
		if (!tracer_target_alive(tr))
			return LOOP_END_TARGET_EXIT;
		if (deadline)
			return LOOP_END_DURATION;
		if (tick && (r = o->tick(o->ctx, err)) != 0)
			return r > 0 ? LOOP_END_TICK_STOP : LOOP_END_ERROR;
		tick = 0;
		n = epoll_wait(f->ep, ev, 4, -1);
		if (n < 0 && errno != EINTR) {
			tg_err_sys(err, TG_E_INTERNAL, "event loop: epoll_wait");
			return LOOP_END_ERROR;
		}
		for (int i = 0; i < n; i++) {
			if (ev[i].data.u32 == TAG_SIGNAL)
				end = read_signals(f->sig);
			else if (ev[i].data.u32 == TAG_TICK)
				tick = read_timer(f->tick);
			else if (ev[i].data.u32 == TAG_DEADLINE)
				deadline = read_timer(f->deadline);
			else if (ev[i].data.u32 == TAG_TRACER)
				events = 1;
		}
		if (end) {
			*signo = end;
			return LOOP_END_SIGNAL;
		}
	}
}

enum loop_end loop_run(struct tracer *tr, const struct loop_opts *opts, int *signo,
		       struct tg_err *err)
{
	struct loop_fds f = {-1, -1, -1, -1};
	enum loop_end end;
	int ignored;

	if (!signo)
		signo = &ignored;
	*signo = 0;
	if (check_opts(opts, err) < 0)
		return LOOP_END_ERROR;
	if (open_fds(&f, tr, opts, err) < 0) {
		close_fds(&f);
		return LOOP_END_ERROR;
	}
	end = run(tr, opts, &f, signo, err);
	close_fds(&f);
	return end;
}
