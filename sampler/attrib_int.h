/* attrib_int.h: what the two halves of memory attribution share (attrib.c: the stack
 * sample's split by page faults, CPU time and the GIL; attrib_micro.c: micro-samples
 * between stack samples).  Not an API: attrib.h is. */
#ifndef TG_ATTRIB_INT_H
#define TG_ATTRIB_INT_H

#include <stdint.h>
#include <sys/types.h>

#include "sampler/attrib.h"

#define CPU_SLOTS 4096
#define PROBES 16
/* Descriptors the slots keep open, at most: a thread beyond them has its /proc files
 * opened, read and closed at each reading, so tgattach's descriptors do not grow with the
 * target's threads (a 500-thread server under the common limit of 1024). */
#define SLOT_FDS_MAX 64
/* A thread missing from this many stack samples in a row is taken for gone. */
#define GONE_AFTER_SAMPLES 4
#define MAX_HOLDERS 64	 /* GIL holders remembered from the previous sample (one per GIL) */
#define MICRO_THREADS 64 /* threads whose CPU time each micro-sample reads */

struct cpu_slot {
	int64_t tid;	   /* 0 = never used, -1 = free again */
	int sched_fd;	   /* /proc/PID/task/TID/schedstat, -1 when none (once used) */
	int stat_fd;	   /* /proc/PID/task/TID/stat */
	int transient;	   /* over SLOT_FDS_MAX: the files are opened for each reading */
	uint64_t base_ns;  /* CPU time at the last charge */
	uint64_t base_flt; /* minor faults at the last charge */
	uint64_t seen;	   /* sample number when last seen, to recycle slots of dead threads */
	uint64_t flt;	   /* minor faults at the last read of stat_fd */
	uint64_t flt_at;   /* monotonic ns just before that read; 0: none */
	int cpu_plus1;	   /* 1 + the CPU it last ran on, at that read; 0: unknown */
	uint64_t ran_at;   /* the charge (attrib.samples) at which it was last found to have run */
};

/* What one thread did since the last charge. */
struct activity {
	uint64_t ran_ns, faults;
	int gil;
};

struct attrib {
	pid_t pid;
	int statm_fd;
	long page_size;
	uint64_t samples;
	int64_t unattributed;
	struct cpu_slot slots[CPU_SLOTS]; /* untouched (zero) until used: cheap to create */
	uint32_t *used;			  /* indices of the slots ever used, to close them */
	size_t nused, used_cap;
	size_t open_fds;      /* descriptors the slots hold */
	struct activity *act; /* per sampled thread, reused */
	uint64_t *w;	      /* weights, per sampled thread, reused */
	int64_t *part;	      /* a split, per sampled thread, reused */
	size_t act_cap;
	uint64_t holders[MAX_HOLDERS];
	size_t nholders;
	/* attrib_micro: changes kept per GIL holder, the holders of its last call, and the
	 * change seen while nobody held a GIL */
	struct kept {
		uint64_t tstate;
		int64_t bytes;
	} kept[MAX_HOLDERS];
	size_t nkept;
	uint64_t micro_prev[MAX_HOLDERS];
	size_t nmicro_prev;
	uint64_t micro_prev_switches; /* the GILs' switch count then (GIL_SWITCHES_UNKNOWN) */
	int micro_switched;	      /* it moved since: the holders at both ends let go */
	uint64_t micro_prev_last;     /* the only GIL's last holder then (attrib_gil.last) */
	int64_t unheld;
	/* the threads of the last stack sample, whose CPU time micro-samples read */
	uint64_t last_micro_ns; /* monotonic time of the last attrib_micro() */
	uint64_t micro_proc_ns; /* the process's CPU time just before the micro threads' */
	int micro_proc_ok;	/* ... was read */
	struct mthread {
		int64_t tid;
		uint64_t tstate;
		struct cpu_slot *slot;
		uint64_t base_ns;
		int primed;
	} micro[MICRO_THREADS];
	size_t nmicro;
};

/* The slot of kernel thread tid (its /proc files, its baselines), found or taken. */
struct cpu_slot *attrib_slot_for(struct attrib *a, int64_t tid);
/* One of a slot's files (stat when stat is set, else schedstat), read whole. */
int attrib_slot_read(const struct attrib *a, const struct cpu_slot *s, int stat, char *buf,
		     size_t len);
/* The threads of sample s become those micro-samples read (baselines carried over). */
void attrib_set_micro_threads(struct attrib *a, const struct walk_sample *s);
/* What attrib_micro kept goes to the threads of s (charged[i]), what it kept for threads
 * gone to unattributed; returns what no thread could be named for. */
int64_t attrib_hand_out_kept(struct attrib *a, const struct walk_sample *s, int64_t *charged);

#endif
