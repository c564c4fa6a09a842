/* The floor of an iSCSI initiator over TCP: the least a client can do per command, to measure what any initiator
 * (ours, libiscsi) could reach against a given target on this machine.
 *
 *   null-initiator HOST PORT TARGET_IQN LUN SECONDS DEPTH BLOCKS [INITIATOR_IQN [sequential|random [relay]]]
 *
 * One connection, one thread, blocking sockets, no library: log in (operational stage only, no authentication,
 * no digests), READ CAPACITY(10), then keep DEPTH READ(10)s of BLOCKS blocks at random LBAs in flight for
 * SECONDS (or in sequence with `sequential`): read one PDU, and for every finished command send the next one. Nothing is parsed beyond what the
 * loop needs (opcode, flags, ITT, StatSN, MaxCmdSN, data length); data is read and dropped. NOP-Ins asking for an
 * answer are answered. Prints one JSON line in `iser perf --json`'s shape: iops, commands, latency p50/p99 in µs,
 * cpuMicrosecondsPerCommand (getrusage user + system over the measured window).
 * `relay`: the floor of a client that keeps the caller's code off the thread that reads (our default completion mode):
 * two threads take turns reading; the one that read a response passes the reads to the other through a futex and
 * then, off the reading thread, sends the next command. One hand-off per response, as our TurnRelay does.
 * Used by run-initiator-bench.sh beside libiscsi and ours; it is a measuring stick, not an initiator. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <linux/futex.h>
#include <pthread.h>
#include <stdatomic.h>
#include <sys/syscall.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static int sock;
static uint32_t cmdsn = 1, expstatsn, maxcmdsn = 1;
static uint8_t buf[1 << 20];

static void fail(const char *what) { fprintf(stderr, "null-initiator: %s\n", what); exit(1); }
static uint32_t be32(const uint8_t *p) { return (uint32_t)p[0] << 24 | p[1] << 16 | p[2] << 8 | p[3]; }
static void put32(uint8_t *p, uint32_t v) { p[0] = v >> 24; p[1] = v >> 16; p[2] = v >> 8; p[3] = v; }
static double now(void) { struct timespec t; clock_gettime(CLOCK_MONOTONIC, &t); return t.tv_sec + t.tv_nsec / 1e9; }
static double cpu(void) {
  struct rusage u; getrusage(RUSAGE_SELF, &u);
  return u.ru_utime.tv_sec + u.ru_utime.tv_usec / 1e6 + u.ru_stime.tv_sec + u.ru_stime.tv_usec / 1e6;
}
static int after(uint32_t a, uint32_t b) { return (int32_t)(a - b) > 0; }

static pthread_mutex_t send_lock = PTHREAD_MUTEX_INITIALIZER; /* relay: the reader may answer a NOP-In while the other sends */
static void send_all(const uint8_t *p, size_t n) {
  while (n) { ssize_t k = send(sock, p, n, 0); if (k <= 0) fail("the connection failed while sending"); p += k; n -= k; }
}
static void recv_all(uint8_t *p, size_t n) {
  while (n) { ssize_t k = recv(sock, p, n, 0); if (k <= 0) fail("the connection was closed by the target"); p += k; n -= k; }
}
/* Reads one PDU: the 48-byte header into hdr, its data segment (padded to 4) into buf. Returns the data length. */
static uint32_t read_pdu(uint8_t *hdr) {
  recv_all(hdr, 48);
  if (hdr[4]) fail("the target sent an additional header segment");
  uint32_t len = (uint32_t)hdr[5] << 16 | hdr[6] << 8 | hdr[7];
  uint32_t padded = (len + 3) & ~3u;
  if (padded > sizeof buf) fail("a data segment larger than 1 MiB");
  recv_all(buf, padded);
  uint8_t op = hdr[0] & 0x3f;
  if (op == 0x21 || op == 0x20 || op == 0x23 || op == 0x32 || (op == 0x25 && (hdr[1] & 1))) {
    uint32_t statsn = be32(hdr + 24);
    if (!after(expstatsn, statsn + 1)) expstatsn = statsn + 1;
  }
  if (op != 0x23 && after(be32(hdr + 32), maxcmdsn)) maxcmdsn = be32(hdr + 32);
  if (op == 0x20 && be32(hdr + 20) != 0xffffffffu) { /* NOP-In asking for a NOP-Out */
    uint8_t nop[48] = {0x00 | 0x40, 0x80};
    memcpy(nop + 8, hdr + 8, 8);
    put32(nop + 16, 0xffffffffu); memcpy(nop + 20, hdr + 20, 4);
    pthread_mutex_lock(&send_lock);
    put32(nop + 24, cmdsn); put32(nop + 28, expstatsn);
    send_all(nop, 48);
    pthread_mutex_unlock(&send_lock);
  }
  return len;
}

static void login(const char *initiator, const char *target) {
  char keys[1024];
  int n = snprintf(keys, sizeof keys,
    "InitiatorName=%s%cTargetName=%s%cSessionType=Normal%cHeaderDigest=None%cDataDigest=None%c"
    "InitialR2T=Yes%cImmediateData=No%cMaxRecvDataSegmentLength=262144%cMaxBurstLength=262144%c"
    "FirstBurstLength=65536%cMaxConnections=1%cErrorRecoveryLevel=0%cDataPDUInOrder=Yes%cDataSequenceInOrder=Yes%c"
    "DefaultTime2Wait=0%cDefaultTime2Retain=0%cMaxOutstandingR2T=1%c",
    initiator, 0, target, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0);
  uint8_t hdr[48], rsp[48];
  for (int round = 0; round < 8; round++) {
    memset(hdr, 0, 48);
    hdr[0] = 0x03 | 0x40;              /* Login Request, immediate */
    hdr[1] = 0x80 | (1 << 2) | 3;      /* T, CSG = operational, NSG = full feature */
    int len = round == 0 ? n : 0;
    hdr[5] = len >> 16; hdr[6] = len >> 8; hdr[7] = len;
    hdr[8] = 0x80; hdr[13] = 0x01;     /* ISID: random-ish, type 2 */
    hdr[12] = (uint8_t)getpid();
    put32(hdr + 24, cmdsn); put32(hdr + 28, expstatsn);
    send_all(hdr, 48);
    if (len) { uint8_t pad[4] = {0}; send_all((uint8_t *)keys, len); send_all(pad, (4 - len % 4) % 4); }
    read_pdu(rsp);
    if ((rsp[0] & 0x3f) != 0x23) fail("the target answered the login with something other than a Login Response");
    if (rsp[36]) { fprintf(stderr, "null-initiator: login refused, status class %d detail %d\n", rsp[36], rsp[37]); exit(1); }
    expstatsn = be32(rsp + 24) + 1;
    maxcmdsn = be32(rsp + 32);
    if ((rsp[1] & 0x80) && (rsp[1] & 3) == 3) return;
  }
  fail("the login did not reach full feature phase in 8 rounds");
}

static void command(uint32_t itt, uint32_t lun, const uint8_t cdb[16], uint32_t expected) {
  uint8_t hdr[48] = {0x01, 0x80 | 0x40 | 0x01}; /* SCSI Command: F, R, simple */
  hdr[9] = lun;
  put32(hdr + 16, itt); put32(hdr + 20, expected);
  memcpy(hdr + 32, cdb, 16);
  pthread_mutex_lock(&send_lock);
  put32(hdr + 24, cmdsn++); put32(hdr + 28, expstatsn);
  send_all(hdr, 48);
  pthread_mutex_unlock(&send_lock);
}

static uint32_t next_lba(int sequential, uint32_t last_lba, uint32_t blocks) {
  static uint32_t next;
  if (!sequential) return (uint32_t)((double)rand() / RAND_MAX * (last_lba + 1 - blocks));
  if (next + blocks > last_lba + 1) next = 0;
  uint32_t lba = next; next += blocks; return lba;
}

/* The measured loop's state, shared by the two threads of a relay (only the thread holding the reads changes it). */
static double *issued, *lat, start, end, t_last;
static size_t done, nlat;
static int inflight, depth_g, sequential_g;
static uint32_t lun_g, blocks_g, expected_g, last_lba_g;
static _Atomic int turn; /* relay: which thread reads */
static int stopped;

static void futex_wait(_Atomic int *a, int v) { syscall(SYS_futex, a, FUTEX_WAIT_PRIVATE, v, NULL, NULL, 0); }
static void futex_wake(_Atomic int *a) { syscall(SYS_futex, a, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0); }
static void pass_reads(int to) { atomic_store(&turn, to); futex_wake(&turn); }

/* Reads until one command finishes; returns its slot with the next command's CDB in c, or -1 when the run is over. */
static int reap_one(uint8_t c[16]) {
  uint8_t hdr[48];
  while (inflight) {
    read_pdu(hdr);
    uint8_t op = hdr[0] & 0x3f;
    if (!((op == 0x25 && (hdr[1] & 1)) || op == 0x21)) continue;
    if (hdr[3]) fail("a READ ended with a status other than GOOD");
    uint32_t slot = be32(hdr + 16) - 1;
    if (slot >= (uint32_t)depth_g) fail("a response for an unknown task");
    double t = t_last = now();
    if (nlat < (1 << 24)) lat[nlat++] = (t - issued[slot]) * 1e6;
    done++;
    if (t >= end) { inflight--; continue; }
    uint32_t lba = next_lba(sequential_g, last_lba_g, blocks_g);
    memset(c, 0, 16); c[0] = 0x28; put32(c + 2, lba); c[7] = blocks_g >> 8; c[8] = blocks_g;
    return (int)slot;
  }
  return -1;
}

static void issue(int slot, const uint8_t c[16]) {
  issued[slot] = now(); command(slot + 1, lun_g, c, expected_g);
}

static void *relay_loop(void *arg) {
  int me = (int)(intptr_t)arg;
  uint8_t c[16];
  for (;;) {
    while (atomic_load(&turn) != me) futex_wait(&turn, !me);
    if (stopped) { pass_reads(!me); return NULL; }
    int slot = reap_one(c);
    if (slot < 0) { stopped = 1; pass_reads(!me); return NULL; }
    pass_reads(!me);            /* the partner reads the next response... */
    while (after(cmdsn, maxcmdsn)) sched_yield();
    issue(slot, c);             /* ...while this thread, no longer reading, sends the next command */
  }
}

static int cmp(const void *a, const void *b) { double x = *(const double *)a, y = *(const double *)b; return (x > y) - (x < y); }

int main(int argc, char **argv) {
  if (argc < 8) { fprintf(stderr, "usage: null-initiator HOST PORT TARGET_IQN LUN SECONDS DEPTH BLOCKS [INITIATOR_IQN [sequential|random [relay]]]\n"); return 2; }
  const char *initiator = argc > 8 ? argv[8] : "iqn.2026-11.org.example:null-initiator";
  int sequential = argc > 9 && !strcmp(argv[9], "sequential");
  int relay = argc > 10 && !strcmp(argv[10], "relay");
  uint32_t lun = atoi(argv[4]); double seconds = atof(argv[5]); int depth = atoi(argv[6]); uint32_t blocks = atoi(argv[7]);
  if (depth < 1 || depth > 256) fail("DEPTH must be 1 to 256");
  struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM}, *ai;
  if (getaddrinfo(argv[1], argv[2], &hints, &ai)) fail("cannot resolve the target's address");
  sock = socket(ai->ai_family, SOCK_STREAM, 0);
  if (sock < 0 || connect(sock, ai->ai_addr, ai->ai_addrlen)) fail("cannot connect to the target");
  int one = 1; setsockopt(sock, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  login(initiator, argv[3]);

  /* READ CAPACITY(10), again after a CHECK CONDITION: a target's first command on a new nexus may meet a unit
   * attention (power on, reset). */
  uint8_t hdr[48], cdb[16] = {0x25};
  uint32_t last_lba = 0, block_size = 0;
  for (int attempt = 0;; attempt++) {
    command(0, lun, cdb, 8);
    uint8_t status;
    for (;;) {
      uint32_t len = read_pdu(hdr);
      uint8_t op = hdr[0] & 0x3f;
      if (op == 0x25 && len >= 8) { last_lba = be32(buf); block_size = be32(buf + 4); }
      if ((op == 0x25 && (hdr[1] & 1)) || op == 0x21) { status = hdr[3]; break; }
    }
    if (status == 0) break;
    if (status != 2 || attempt == 3) fail("READ CAPACITY failed (status not GOOD; is the LUN right?)");
  }
  if (!block_size || last_lba < blocks) fail("READ CAPACITY returned no usable size");

  issued = calloc(depth, sizeof(double)); lat = malloc(sizeof(double) * (1 << 24));
  depth_g = depth; sequential_g = sequential; lun_g = lun; blocks_g = blocks; last_lba_g = last_lba;
  expected_g = blocks * block_size;
  srand(getpid());
  start = now(); end = start + seconds; t_last = start;
  double cpu0 = cpu();
  for (int i = 0; i < depth; i++) {
    uint32_t lba = next_lba(sequential, last_lba, blocks);
    uint8_t c[16] = {0x28}; put32(c + 2, lba); c[7] = blocks >> 8; c[8] = blocks;
    while (after(cmdsn, maxcmdsn)) read_pdu(hdr);
    issue(i, c);
  }
  inflight = depth;
  if (relay) {
    pthread_t partner;
    if (pthread_create(&partner, NULL, relay_loop, (void *)(intptr_t)1)) fail("cannot start the relay's second thread");
    relay_loop((void *)(intptr_t)0);
    pthread_join(partner, NULL);
  } else {
    uint8_t c[16]; int slot;
    while ((slot = reap_one(c)) >= 0) {
      while (after(cmdsn, maxcmdsn)) read_pdu(hdr);
      issue(slot, c);
    }
  }
  double elapsed = t_last - start, used = cpu() - cpu0;
  qsort(lat, nlat, sizeof(double), cmp);
  printf("{\"iops\": %.1f, \"commands\": %zu, \"latencyMicroseconds\": {\"p50\": %.1f, \"p99\": %.1f}, "
         "\"cpuMicrosecondsPerCommand\": %.2f}\n",
         done / elapsed, done, lat[nlat / 2], lat[(size_t)(nlat * 0.99)], used * 1e6 / done);
  return 0;
}
