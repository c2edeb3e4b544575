// A small UDP flood for the per-packet benchmark (bench/packets.mjs):
//   udpflood send DST_IP PORT SECONDS   sends 18-byte datagrams as fast as it can
//   udpflood recv PORT IDLE_MS          counts datagrams until none came for IDLE_MS
// `recv` prints "COUNT FIRST_NS LAST_NS" (CLOCK_MONOTONIC of the first and last
// datagram), `send` prints the number sent. IPv4 only; loopback or namespaces only.
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define BATCH 64

static long long now_ns(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (long long)t.tv_sec * 1000000000LL + t.tv_nsec;
}

static int flood(const char *dst, int port, double seconds) {
  int fd = socket(AF_INET, SOCK_DGRAM, 0);
  struct sockaddr_in to = {.sin_family = AF_INET, .sin_port = htons(port)};
  if (fd < 0 || inet_pton(AF_INET, dst, &to.sin_addr) != 1 || connect(fd, (struct sockaddr *)&to, sizeof to) < 0) {
    perror("send");
    return 1;
  }
  char payload[18] = "wgpc-bench-packet";
  struct iovec iov[BATCH];
  struct mmsghdr msgs[BATCH];
  memset(msgs, 0, sizeof msgs);
  for (int i = 0; i < BATCH; i++) {
    iov[i].iov_base = payload;
    iov[i].iov_len = sizeof payload;
    msgs[i].msg_hdr.msg_iov = &iov[i];
    msgs[i].msg_hdr.msg_iovlen = 1;
  }
  long long end = now_ns() + (long long)(seconds * 1e9), sent = 0;
  while (now_ns() < end) {
    int n = sendmmsg(fd, msgs, BATCH, 0);
    if (n > 0) sent += n;
  }
  printf("%lld\n", sent);
  return 0;
}

static int count(int port, int idle_ms) {
  int fd = socket(AF_INET, SOCK_DGRAM, 0);
  struct sockaddr_in at = {.sin_family = AF_INET, .sin_port = htons(port), .sin_addr.s_addr = htonl(INADDR_ANY)};
  int size = 64 << 20;
  // a deep queue, so that what the firewall passed is counted, not dropped by the socket
  setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &size, sizeof size);
  if (fd < 0 || bind(fd, (struct sockaddr *)&at, sizeof at) < 0) {
    perror("recv");
    return 1;
  }
  struct timeval idle = {.tv_sec = idle_ms / 1000, .tv_usec = (idle_ms % 1000) * 1000};
  char buffers[BATCH][64];
  struct iovec iov[BATCH];
  struct mmsghdr msgs[BATCH];
  memset(msgs, 0, sizeof msgs);
  for (int i = 0; i < BATCH; i++) {
    iov[i].iov_base = buffers[i];
    iov[i].iov_len = sizeof buffers[i];
    msgs[i].msg_hdr.msg_iov = &iov[i];
    msgs[i].msg_hdr.msg_iovlen = 1;
  }
  printf("ready\n");
  fflush(stdout);
  long long got = 0, first = 0, last = 0;
  for (;;) {
    // wait as long as it takes for the first datagram, then until the flood stops
    if (got > 0) setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &idle, sizeof idle);
    int n = recvmmsg(fd, msgs, BATCH, 0, NULL);
    if (n <= 0) break;
    last = now_ns();
    if (got == 0) first = last;
    got += n;
  }
  printf("%lld %lld %lld\n", got, first, last);
  return 0;
}

int main(int argc, char **argv) {
  if (argc == 5 && strcmp(argv[1], "send") == 0) return flood(argv[2], atoi(argv[3]), atof(argv[4]));
  if (argc == 4 && strcmp(argv[1], "recv") == 0) return count(atoi(argv[2]), atoi(argv[3]));
  fprintf(stderr, "usage: udpflood send DST_IP PORT SECONDS | udpflood recv PORT IDLE_MS\n");
  return 2;
}
