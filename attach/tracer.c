/* tracer.c: see tracer.h.
 *
 * The thread owns the struct trace: every trace_* call is made from it.  What it shares
 * with the caller (events, requests, the stop flag, the target's state, an error)
 * is under one mutex; each side wakes the other with an eventfd. */
#include "attach/tracer.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include "common/xalloc.h"

enum start_state { STARTING, RUNNING, START_FAILED };

enum req_kind { REQ_RELEASE, REQ_PAUSE, REQ_RESUME, REQ_ADOPT, REQ_REGS, REQ_HOLD_EACH };

struct request {
	enum req_kind kind;
	pid_t pid;		       /* the thread's TID for REQ_REGS */
	long timeout_ms;	       /* REQ_PAUSE, REQ_HOLD_EACH */
	struct user_regs_struct *regs; /* REQ_REGS: the caller's, it waits */
	const pid_t *tids;	       /* REQ_HOLD_EACH: n threads, and what to do with each */
	size_t n;
	const struct tracer_hold_ops *ops;
};

#define TRACER_NICE -10

struct tracer {
	pthread_t thread;
	pid_t pid;
	int follow_forks;
	int notify_fd; /* thread -> caller: events, exit, failure */
	int wake_fd;   /* caller -> thread: a request */
	int chld_fd;   /* the thread's signalfd for SIGCHLD */

	pthread_mutex_t lock; /* everything below */
	pthread_cond_t started;
	enum start_state state;
	int alive, failed, stop;
	int status; /* the original target's wait status, once it is gone */
	int queued; /* events queued since the caller was last woken */
	struct tg_err err;
	struct trace_event *ev;
	size_t nev, evcap;
	struct request *req; /* in the order asked */
	size_t nreq, reqcap;
	/* pauses and adoptions are answered in order: the caller waits until answered
	 * reaches its ticket */
	pthread_cond_t answer;
	uint64_t asked, answered;
	int answer_rc, over; /* over: the thread stopped serving (no answer will come) */
	struct tg_err answer_err;
};

static void fd_poke(int fd)
{
	uint64_t one = 1;
	ssize_t r = write(fd, &one, sizeof one);

	(void)r; /* it fails only when the counter is full: readable anyway */
}

static void fd_clear(int fd)
{
	uint64_t count;

	while (read(fd, &count, sizeof count) == (ssize_t)sizeof count)
		;
}

/* ---- the thread's side ---- */

/* trace_event_fn: runs in the thread, inside trace_service().  The caller is woken only
 * once the service is over (note_state): waking it costs a CPU that the thread that just
 * stopped may be waiting for. */
static void queue_event(void *ctx, const struct trace_event *ev)
{
	struct tracer *tr = ctx;

	pthread_mutex_lock(&tr->lock);
	tr->ev = xgrow(tr->ev, &tr->evcap, tr->nev + 1, sizeof *tr->ev);
	tr->ev[tr->nev++] = *ev;
	tr->queued = 1;
	pthread_mutex_unlock(&tr->lock);
}

static void announce(struct tracer *tr, enum start_state state, const struct tg_err *err)
{
	pthread_mutex_lock(&tr->lock);
	tr->state = state;
	if (err)
		tr->err = *err;
	pthread_cond_signal(&tr->started);
	pthread_mutex_unlock(&tr->lock);
}

static void answer(struct tracer *tr, int rc, const struct tg_err *err)
{
	pthread_mutex_lock(&tr->lock);
	tr->answer_rc = rc;
	tr->answer_err = *err;
	tr->answered++;
	pthread_cond_broadcast(&tr->answer);
	pthread_mutex_unlock(&tr->lock);
}

/* REQ_HOLD_EACH: each thread in turn stopped, ops->held run here, the thread let go, then
 * ops->after: no hand-over between threads while one is held, nor between threads. */
static int hold_each(struct trace *t, const struct request *rq)
{
	for (size_t i = 0; i < rq->n; i++) {
		struct user_regs_struct regs;
		int ok = trace_pause_thread(t, rq->tids[i], rq->timeout_ms, &regs, NULL) == 0;
		if (ok) {
			rq->ops->held(rq->ops->ctx, i, &regs);
			trace_resume_thread(t, rq->tids[i], NULL);
		}
		rq->ops->after(rq->ops->ctx, i, ok);
		/* the stops that came meanwhile (a fork waits for its tracer) are seen to
		 * between threads; an error is met again, and noted, by serve() */
		trace_service(t, NULL);
	}
	return 0;
}

static void carry_out(struct tracer *tr, struct trace *t, const struct request *rq)
{
	struct tg_err err = {0};

	switch (rq->kind) {
	case REQ_RELEASE:
		trace_release(t, rq->pid, NULL);
		break;
	case REQ_PAUSE:
		answer(tr, trace_pause_for(t, rq->pid, rq->timeout_ms, &err), &err);
		break;
	case REQ_ADOPT:
		answer(tr, trace_adopt(t, rq->pid, &err), &err);
		break;
	case REQ_RESUME:
		trace_resume(t, rq->pid, NULL);
		break;
	case REQ_REGS:
		answer(tr, trace_thread_regs(t, rq->pid, rq->regs, &err), &err);
		break;
	case REQ_HOLD_EACH:
		answer(tr, hold_each(t, rq), &err);
		break;
	}
}

/* Carry out the caller's requests, in order; 1 when it asked the thread to stop. */
static int take_requests(struct tracer *tr, struct trace *t)
{
	struct request batch[64];
	size_t n;
	int stop;

	do {
		pthread_mutex_lock(&tr->lock);
		n = tr->nreq < 64 ? tr->nreq : 64;
		if (n) {
			memcpy(batch, tr->req, n * sizeof *batch);
			memmove(tr->req, tr->req + n, (tr->nreq - n) * sizeof *batch);
			tr->nreq -= n;
		}
		stop = tr->stop;
		pthread_mutex_unlock(&tr->lock);
		for (size_t i = 0; i < n; i++)
			carry_out(tr, t, &batch[i]);
	} while (n == 64);
	return stop;
}

static void note_state(struct tracer *tr, struct trace *t, const struct tg_err *err)
{
	int alive = trace_target_alive(t), changed;

	pthread_mutex_lock(&tr->lock);
	changed = alive != tr->alive || err || tr->queued;
	tr->queued = 0;
	tr->alive = alive;
	if (!alive)
		tr->status = trace_target_status(t);
	if (err) {
		tr->failed = 1;
		tr->err = *err;
	}
	pthread_mutex_unlock(&tr->lock);
	if (changed)
		fd_poke(tr->notify_fd);
}

/* Sleep until a SIGCHLD or a request.  The signalfd is drained before the caller
 * services: a SIGCHLD that comes later makes it readable again. */
static void sleep_for_work(struct tracer *tr)
{
	struct pollfd p[2] = {{tr->chld_fd, POLLIN, 0}, {tr->wake_fd, POLLIN, 0}};
	struct signalfd_siginfo si[8];

	if (poll(p, 2, -1) < 0)
		return; /* EINTR: nothing is lost, the caller services anyway */
	if (p[0].revents)
		while (read(tr->chld_fd, si, sizeof si) > 0)
			;
	if (p[1].revents)
		fd_clear(tr->wake_fd);
}

static void serve(struct tracer *tr, struct trace *t)
{
	struct tg_err err = {0};

	for (;;) {
		int handled = trace_service(t, &err);
		if (handled < 0) {
			note_state(tr, t, &err);
			return;
		}
		note_state(tr, t, NULL);
		if (take_requests(tr, t))
			return;
		if (handled < TRACE_SERVICE_MAX)
			sleep_for_work(tr);
	}
}

/* A stopped thread waits for this one, so it should not wait for a CPU behind the
 * sampler (or anything else of ours).  Allowed with CAP_SYS_NICE (root); without it the
 * thread keeps the process's priority.  It only ever wakes to service stops and sleeps
 * again, so it cannot take a CPU from anyone for long. */
static void raise_priority(void)
{
	setpriority(PRIO_PROCESS, (id_t)gettid(), TRACER_NICE);
}

static void *tracer_main(void *arg)
{
	struct tracer *tr = arg;
	struct trace_opts opts = {tr->follow_forks, queue_event, tr};
	struct tg_err err = {0};
	sigset_t all;

	/* every signal goes to the caller's signalfd, SIGCHLD to ours */
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, NULL);
	raise_priority();
	struct trace *t = trace_attach(tr->pid, &opts, &err);
	if (!t) {
		announce(tr, START_FAILED, &err);
		return NULL;
	}
	announce(tr, RUNNING, NULL);
	serve(tr, t);
	pthread_mutex_lock(&tr->lock);
	tr->over = 1;
	pthread_cond_broadcast(&tr->answer);
	pthread_mutex_unlock(&tr->lock);
	trace_detach(t);
	return NULL;
}

/* ---- the caller's side ---- */

static int sigchld_blocked(struct tg_err *err)
{
	sigset_t cur;

	pthread_sigmask(SIG_BLOCK, NULL, &cur);
	if (sigismember(&cur, SIGCHLD) == 1)
		return 0;
	return tg_err_set(err, TG_E_INTERNAL,
			  "start the tracer thread: SIGCHLD is not blocked (call "
			  "loop_block_signals first)");
}

static int open_fds(struct tracer *tr, struct tg_err *err)
{
	sigset_t chld;

	sigemptyset(&chld);
	sigaddset(&chld, SIGCHLD);
	tr->notify_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	tr->wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	tr->chld_fd = signalfd(-1, &chld, SFD_NONBLOCK | SFD_CLOEXEC);
	if (tr->notify_fd < 0 || tr->wake_fd < 0 || tr->chld_fd < 0)
		return tg_err_sys(err, TG_E_INTERNAL, "start the tracer thread: eventfd/signalfd");
	return 0;
}

static void tracer_free(struct tracer *tr)
{
	int fds[] = {tr->notify_fd, tr->wake_fd, tr->chld_fd};

	for (size_t i = 0; i < sizeof fds / sizeof fds[0]; i++)
		if (fds[i] >= 0)
			close(fds[i]);
	pthread_mutex_destroy(&tr->lock);
	pthread_cond_destroy(&tr->started);
	pthread_cond_destroy(&tr->answer);
	free(tr->ev);
	free(tr->req);
	free(tr);
}

struct tracer *tracer_start(pid_t pid, int follow_forks, struct tg_err *err)
{
	struct tracer *tr;
	int rc;

	if (sigchld_blocked(err) < 0)
		return NULL;
	tr = xcalloc(1, sizeof *tr);
	tr->pid = pid;
	tr->follow_forks = follow_forks;
	tr->alive = 1;
	tr->notify_fd = tr->wake_fd = tr->chld_fd = -1;
	pthread_mutex_init(&tr->lock, NULL);
	pthread_cond_init(&tr->started, NULL);
	pthread_cond_init(&tr->answer, NULL);
	if (open_fds(tr, err) < 0) {
		tracer_free(tr);
		return NULL;
	}
	if ((rc = pthread_create(&tr->thread, NULL, tracer_main, tr)) != 0) {
		errno = rc;
		tg_err_sys(err, TG_E_INTERNAL, "start the tracer thread: pthread_create");
		tracer_free(tr);
		return NULL;
	}
	pthread_mutex_lock(&tr->lock);
	while (tr->state == STARTING)
		pthread_cond_wait(&tr->started, &tr->lock);
	pthread_mutex_unlock(&tr->lock);
	if (tr->state == START_FAILED) {
		pthread_join(tr->thread, NULL);
		if (err)
			*err = tr->err;
		tracer_free(tr);
		return NULL;
	}
	return tr;
}

int tracer_fd(const struct tracer *tr)
{
	return tr->notify_fd;
}

/* Up to max queued events, oldest first, moved into out; how many. */
static size_t take_events(struct tracer *tr, struct trace_event *out, size_t max)
{
	size_t n;

	pthread_mutex_lock(&tr->lock);
	n = tr->nev < max ? tr->nev : max;
	if (n) {
		memcpy(out, tr->ev, n * sizeof *out);
		memmove(tr->ev, tr->ev + n, (tr->nev - n) * sizeof *tr->ev);
		tr->nev -= n;
	}
	pthread_mutex_unlock(&tr->lock);
	return n;
}

void tracer_events(struct tracer *tr, trace_event_fn fn, void *ctx)
{
	struct trace_event ev[64];
	size_t n;

	/* cleared first: an event queued meanwhile pokes the descriptor again */
	fd_clear(tr->notify_fd);
	while ((n = take_events(tr, ev, 64)) > 0)
		for (size_t i = 0; i < n; i++)
			fn(ctx, &ev[i]);
}

int tracer_target_status(struct tracer *tr)
{
	pthread_mutex_lock(&tr->lock);
	int status = tr->alive ? -1 : tr->status;
	pthread_mutex_unlock(&tr->lock);
	return status;
}

int tracer_target_alive(struct tracer *tr)
{
	pthread_mutex_lock(&tr->lock);
	int alive = tr->alive;
	pthread_mutex_unlock(&tr->lock);
	return alive;
}

int tracer_error(struct tracer *tr, struct tg_err *err)
{
	pthread_mutex_lock(&tr->lock);
	int failed = tr->failed;
	if (failed && err)
		*err = tr->err;
	pthread_mutex_unlock(&tr->lock);
	return failed ? -1 : 0;
}

/* Queue a request; its ticket when it is answered (a pause, an adoption). */
static uint64_t ask(struct tracer *tr, struct request rq)
{
	uint64_t ticket = 0;

	pthread_mutex_lock(&tr->lock);
	tr->req = xgrow(tr->req, &tr->reqcap, tr->nreq + 1, sizeof *tr->req);
	tr->req[tr->nreq++] = rq;
	if (rq.kind == REQ_PAUSE || rq.kind == REQ_ADOPT || rq.kind == REQ_REGS ||
	    rq.kind == REQ_HOLD_EACH)
		ticket = ++tr->asked;
	pthread_mutex_unlock(&tr->lock);
	fd_poke(tr->wake_fd);
	return ticket;
}

void tracer_release(struct tracer *tr, pid_t pid)
{
	ask(tr, (struct request){REQ_RELEASE, pid, 0, NULL});
}

/* Wait for the answer to ticket. */
static int wait_answer(struct tracer *tr, uint64_t ticket, const char *what, pid_t pid,
		       struct tg_err *err)
{
	int rc;

	pthread_mutex_lock(&tr->lock);
	while (tr->answered < ticket && !tr->over)
		pthread_cond_wait(&tr->answer, &tr->lock);
	if (tr->answered < ticket) {
		rc = tg_err_set(err, TG_E_INTERNAL, "%s process %d: the tracer thread ended", what,
				(int)pid);
	} else {
		rc = tr->answer_rc;
		if (rc < 0 && err)
			*err = tr->answer_err;
	}
	pthread_mutex_unlock(&tr->lock);
	return rc;
}

int tracer_pause(struct tracer *tr, pid_t pid, long timeout_ms, struct tg_err *err)
{
	return wait_answer(tr, ask(tr, (struct request){REQ_PAUSE, pid, timeout_ms, NULL}), "pause",
			   pid, err);
}

int tracer_adopt(struct tracer *tr, pid_t pid, struct tg_err *err)
{
	return wait_answer(tr, ask(tr, (struct request){REQ_ADOPT, pid, 0, NULL}), "attach to", pid,
			   err);
}

int tracer_hold_each(struct tracer *tr, const pid_t *tids, size_t n, long timeout_ms,
		     const struct tracer_hold_ops *ops, struct tg_err *err)
{
	struct request rq = {REQ_HOLD_EACH, 0, timeout_ms, NULL, tids, n, ops};

	return wait_answer(tr, ask(tr, rq), "stop the threads of", tids && n ? tids[0] : 0, err);
}

int tracer_thread_regs(struct tracer *tr, pid_t tid, struct user_regs_struct *regs,
		       struct tg_err *err)
{
	return wait_answer(tr, ask(tr, (struct request){REQ_REGS, tid, 0, regs}),
			   "read the registers of the thread of", tid, err);
}

void tracer_resume(struct tracer *tr, pid_t pid)
{
	ask(tr, (struct request){REQ_RESUME, pid, 0, NULL});
}

void tracer_stop(struct tracer *tr)
{
	if (!tr)
		return;
	pthread_mutex_lock(&tr->lock);
	tr->stop = 1;
	pthread_mutex_unlock(&tr->lock);
	fd_poke(tr->wake_fd);
	pthread_join(tr->thread, NULL);
	tracer_free(tr);
}
