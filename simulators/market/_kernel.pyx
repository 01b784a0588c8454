# distutils: language = c
"""The market simulator's inner loop: one step of every instrument's price, quote and volume.

Deterministic for a seed: the random numbers come from xoshiro256** seeded through
splitmix64 (no global or OS randomness), every output is an integer, and the C code
is compiled without floating-point contraction (setup.py), so the same seed gives
the same bytes.

Model (per step, for instrument i in sector s):
    x_i += vol_mult * sigma_i * (a_m * f_m + a_s * f_s + a_e * e_i) + drift_i + jump_i
with f_m, f_s, e_i independent standard normals and a_m^2 + a_s^2 + a_e^2 = 1, so two
names in one sector correlate at a_m^2 + a_s^2 and across sectors at a_m^2. The
emitted last price is exp(x) rounded to the tick, clamped to the day's limits; at
limit-down with x below it the name is locked (no bids), at limit-up (no offers).
"""

from libc.math cimport cos, exp, log, sin, sqrt, floor
from libc.stdint cimport int8_t, int32_t, int64_t, uint8_t, uint64_t
from libc.stdlib cimport free, malloc

cdef double TWO_PI = 6.283185307179586


cdef inline uint64_t rotl(uint64_t x, int k) noexcept nogil:
    return (x << k) | (x >> (64 - k))


cdef class Rng:
    """xoshiro256** (Blackman and Vigna), seeded with splitmix64."""

    cdef uint64_t s[4]
    cdef double spare
    cdef bint has_spare

    def __init__(self, uint64_t seed):
        cdef uint64_t z
        cdef int k
        for k in range(4):
            seed += <uint64_t>0x9E3779B97F4A7C15
            z = seed
            z = (z ^ (z >> 30)) * <uint64_t>0xBF58476D1CE4E5B9
            z = (z ^ (z >> 27)) * <uint64_t>0x94D049BB133111EB
            self.s[k] = z ^ (z >> 31)
        self.has_spare = False

    cdef inline uint64_t next(self) noexcept nogil:
        cdef uint64_t result = rotl(self.s[1] * 5, 7) * 9
        cdef uint64_t t = self.s[1] << 17
        self.s[2] ^= self.s[0]
        self.s[3] ^= self.s[1]
        self.s[1] ^= self.s[2]
        self.s[0] ^= self.s[3]
        self.s[2] ^= t
        self.s[3] = rotl(self.s[3], 45)
        return result

    cdef inline double uniform(self) noexcept nogil:
        """In (0, 1): 53 random bits, never 0."""
        return ((self.next() >> 11) + 0.5) * (1.0 / 9007199254740992.0)

    cdef inline double normal(self) noexcept nogil:
        """Box-Muller, both values used."""
        cdef double u, v, r
        if self.has_spare:
            self.has_spare = False
            return self.spare
        u = self.uniform()
        v = self.uniform()
        r = sqrt(-2.0 * log(u))
        self.spare = r * sin(TWO_PI * v)
        self.has_spare = True
        return r * cos(TWO_PI * v)

    def random(self):
        return self.uniform()

    def gauss(self):
        return self.normal()

    def below(self, uint64_t n):
        """An integer in [0, n)."""
        return <uint64_t>(self.uniform() * n)


cdef inline int64_t lots(double shares) noexcept nogil:
    cdef int64_t q = <int64_t>(shares / 100.0) * 100
    return q if q >= 100 else 100


cdef class Kernel:
    """Packed per-instrument state and the step function. Python sets drifts, forced locks,
    halts and limits between steps; `step` fills the output arrays."""

    cdef public int n, n_sectors
    cdef public Rng rng
    cdef double* x          # latent log price
    cdef double* sigma      # per-step volatility
    cdef double* drift      # per-step drift (scenario moves), consumed each step
    cdef double* jump_prob  # per-step jump probability
    cdef double* jump_sigma # jump size (log)
    cdef double* adv_step   # average shares traded per step
    cdef int32_t* sector
    cdef int64_t* tick
    cdef int64_t* down
    cdef int64_t* up
    cdef int64_t* last
    cdef uint8_t* halted
    cdef int8_t* force     # -1 force a limit-down lock, +1 limit-up, 0 free
    cdef double* f_sector
    cdef public double a_m, a_s, a_e, vol_mult
    # outputs of the last step, one row per instrument that ticked
    cdef public int count
    cdef int32_t* o_instr
    cdef int64_t* o_last
    cdef int64_t* o_volume
    cdef int64_t* o_bid
    cdef int64_t* o_bid_size
    cdef int64_t* o_ask
    cdef int64_t* o_ask_size
    cdef int8_t* o_lock

    def __cinit__(self, int n, int n_sectors, uint64_t seed):
        self.n = n
        self.n_sectors = n_sectors
        self.rng = Rng(seed)
        self.x = <double*>malloc(n * sizeof(double))
        self.sigma = <double*>malloc(n * sizeof(double))
        self.drift = <double*>malloc(n * sizeof(double))
        self.jump_prob = <double*>malloc(n * sizeof(double))
        self.jump_sigma = <double*>malloc(n * sizeof(double))
        self.adv_step = <double*>malloc(n * sizeof(double))
        self.sector = <int32_t*>malloc(n * sizeof(int32_t))
        self.tick = <int64_t*>malloc(n * sizeof(int64_t))
        self.down = <int64_t*>malloc(n * sizeof(int64_t))
        self.up = <int64_t*>malloc(n * sizeof(int64_t))
        self.last = <int64_t*>malloc(n * sizeof(int64_t))
        self.halted = <uint8_t*>malloc(n * sizeof(uint8_t))
        self.force = <int8_t*>malloc(n * sizeof(int8_t))
        self.f_sector = <double*>malloc((n_sectors + 1) * sizeof(double))
        self.o_instr = <int32_t*>malloc(n * sizeof(int32_t))
        self.o_last = <int64_t*>malloc(n * sizeof(int64_t))
        self.o_volume = <int64_t*>malloc(n * sizeof(int64_t))
        self.o_bid = <int64_t*>malloc(n * sizeof(int64_t))
        self.o_bid_size = <int64_t*>malloc(n * sizeof(int64_t))
        self.o_ask = <int64_t*>malloc(n * sizeof(int64_t))
        self.o_ask_size = <int64_t*>malloc(n * sizeof(int64_t))
        self.o_lock = <int8_t*>malloc(n * sizeof(int8_t))
        cdef int k
        for k in range(n):
            self.x[k] = self.sigma[k] = self.drift[k] = self.jump_prob[k] = self.jump_sigma[k] = 0.0
            self.adv_step[k] = 0.0
            self.sector[k] = 0
            self.tick[k] = 1
            self.down[k] = self.up[k] = self.last[k] = 0
            self.halted[k] = 0
            self.force[k] = 0
        self.count = 0
        self.vol_mult = 1.0

    def __dealloc__(self):
        free(self.x)
        free(self.sigma)
        free(self.drift)
        free(self.jump_prob)
        free(self.jump_sigma)
        free(self.adv_step)
        free(self.sector)
        free(self.tick)
        free(self.down)
        free(self.up)
        free(self.last)
        free(self.halted)
        free(self.force)
        free(self.f_sector)
        free(self.o_instr)
        free(self.o_last)
        free(self.o_volume)
        free(self.o_bid)
        free(self.o_bid_size)
        free(self.o_ask)
        free(self.o_ask_size)
        free(self.o_lock)

    def set_correlation(self, double market, double sector):
        """Pairwise return correlation across sectors (market) and within one (sector >= market)."""
        if not 0.0 <= market <= sector < 1.0:
            raise ValueError("need 0 <= market correlation <= sector correlation < 1")
        self.a_m = sqrt(market)
        self.a_s = sqrt(sector - market)
        self.a_e = sqrt(1.0 - sector)

    def set_instrument(self, int i, int sector, double sigma_step, double adv_step, double jump_prob,
                       double jump_sigma, int64_t tick, int64_t price):
        self.sector[i] = sector
        self.sigma[i] = sigma_step
        self.adv_step[i] = adv_step
        self.jump_prob[i] = jump_prob
        self.jump_sigma[i] = jump_sigma
        self.tick[i] = tick
        self.last[i] = price
        self.x[i] = log(<double>price)

    def set_limits(self, int i, int64_t down, int64_t up):
        """The day's band (0, 0: no limit)."""
        self.down[i] = down
        self.up[i] = up

    def set_halted(self, int i, bint halted):
        self.halted[i] = halted

    def set_force(self, int i, int lock):
        self.force[i] = lock

    def add_drift(self, int i, double log_move):
        self.drift[i] += log_move

    def jump(self, int i, double log_move):
        self.x[i] += log_move

    def overnight(self, double sigma_scale):
        """The close-to-open move: a random gap of sigma_scale per-step volatilities."""
        cdef int i
        cdef double fm = self.rng.normal()
        for k in range(self.n_sectors):
            self.f_sector[k] = self.rng.normal()
        for i in range(self.n):
            self.x[i] += self.vol_mult * sigma_scale * self.sigma[i] * (
                self.a_m * fm + self.a_s * self.f_sector[self.sector[i]] + self.a_e * self.rng.normal())

    def last_price(self, int i):
        return self.last[i]

    def latent(self, int i):
        return exp(self.x[i])

    cpdef int step(self) except -1:
        """Advance every instrument one step; rows for those not halted go to the outputs."""
        cdef Rng rng = self.rng
        cdef int i, k, row = 0
        cdef double fm = rng.normal(), move, price, spread_d, depth
        cdef int64_t p, spread, bid, ask, tick, lo, hi, vol
        cdef int8_t lock
        for k in range(self.n_sectors):
            self.f_sector[k] = rng.normal()
        for i in range(self.n):
            if self.halted[i]:
                continue
            move = self.vol_mult * self.sigma[i] * (self.a_m * fm + self.a_s * self.f_sector[self.sector[i]]
                                                    + self.a_e * rng.normal())
            move += self.drift[i]
            self.drift[i] = 0.0
            if self.jump_prob[i] > 0.0 and rng.uniform() < self.jump_prob[i]:
                move += self.jump_sigma[i] * rng.normal()
            self.x[i] += move
            lo = self.down[i]
            hi = self.up[i]
            if self.force[i] < 0 and lo > 0 and self.x[i] > log(<double>lo) - 0.002:
                self.x[i] = log(<double>lo) - 0.002
            elif self.force[i] > 0 and hi > 0 and self.x[i] < log(<double>hi) + 0.002:
                self.x[i] = log(<double>hi) + 0.002
            tick = self.tick[i]
            price = exp(self.x[i])
            p = <int64_t>floor(price / tick + 0.5) * tick
            if p < tick:
                p = tick
            lock = 0
            if lo > 0 and p <= lo:
                p = lo
                lock = -1 if self.x[i] < log(<double>lo) else 0
            elif hi > 0 and p >= hi:
                p = hi
                lock = 1 if self.x[i] > log(<double>hi) else 0
            self.last[i] = p
            depth = self.adv_step[i]
            if lock < 0:
                # limit-down lock: sellers queue at the limit, nobody bids
                bid = 0
                self.o_bid_size[row] = 0
                ask = lo
                self.o_ask_size[row] = lots(depth * (40.0 + 40.0 * rng.uniform()))
                vol = 0 if rng.uniform() < 0.8 else lots(depth * 0.05 * rng.uniform())
            elif lock > 0:
                ask = 0
                self.o_ask_size[row] = 0
                bid = hi
                self.o_bid_size[row] = lots(depth * (40.0 + 40.0 * rng.uniform()))
                vol = 0 if rng.uniform() < 0.8 else lots(depth * 0.05 * rng.uniform())
            else:
                spread_d = p * 0.0004 / tick
                spread = (<int64_t>spread_d + 1) * tick
                bid = p - (spread // (2 * tick)) * tick
                if bid == p:
                    bid = p - tick if rng.uniform() < 0.5 else p
                ask = bid + spread
                if lo > 0 and bid < lo:
                    bid = lo
                if hi > 0 and ask > hi:
                    ask = hi
                if ask <= bid:  # squeezed against a limit: keep one tick of spread inside the band
                    if hi > 0 and bid >= hi:
                        bid = hi - tick
                        ask = hi
                    else:
                        ask = bid + tick
                self.o_bid_size[row] = lots(depth * (0.3 + 1.4 * rng.uniform()))
                self.o_ask_size[row] = lots(depth * (0.3 + 1.4 * rng.uniform()))
                vol = lots(depth * 2.0 * rng.uniform()) if rng.uniform() < 0.85 else 0
            self.o_instr[row] = i
            self.o_last[row] = p
            self.o_volume[row] = vol
            self.o_bid[row] = bid
            self.o_ask[row] = ask
            self.o_lock[row] = lock
            row += 1
        self.count = row
        return row

    def rows(self):
        """The last step's rows as tuples (instrument, last, volume, bid, bid_size, ask, ask_size, lock)."""
        return [(self.o_instr[k], self.o_last[k], self.o_volume[k], self.o_bid[k], self.o_bid_size[k],
                 self.o_ask[k], self.o_ask_size[k], self.o_lock[k]) for k in range(self.count)]

    def steps(self, int n):
        """Advance n steps, discarding the rows; the number of ticks generated (for throughput)."""
        cdef int k
        cdef int64_t total = 0
        for k in range(n):
            total += self.step()
        return total
