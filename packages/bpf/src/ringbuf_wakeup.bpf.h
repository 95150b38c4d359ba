/* Batched ring buffer wakeups, shared by the programs that can emit many events per second.
 *
 * By default every record whose commit finds the consumer caught up wakes it: at tens of thousands
 * of events per second that is an irq_work in the traced thread and a context switch of the
 * agent's poll thread per event, which costs the traced service more than the probe itself.
 * Records are committed without a wakeup instead; the poll thread drains the ring on its own
 * timeout (native/src/event_stream.cc), and a record that finds the ring 1/8 full wakes it at once,
 * so a burst cannot overrun the ring while the consumer sleeps. */
#ifndef TRACEFLEET_RINGBUF_WAKEUP_BPF_H
#define TRACEFLEET_RINGBUF_WAKEUP_BPF_H

static __always_inline __u64 ringbuf_wakeup_flags(void *ringbuf)
{
	__u64 avail = bpf_ringbuf_query(ringbuf, BPF_RB_AVAIL_DATA);
	__u64 size = bpf_ringbuf_query(ringbuf, BPF_RB_RING_SIZE);

	return avail >= size / 8 ? BPF_RB_FORCE_WAKEUP : BPF_RB_NO_WAKEUP;
}

#endif /* TRACEFLEET_RINGBUF_WAKEUP_BPF_H */
