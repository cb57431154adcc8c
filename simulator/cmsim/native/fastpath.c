/* cmsim fast path: Unicorn block and code hooks in C.
 *
 * The timing rules stay in Python (cmsim.timing.cortex_m4). This helper only records, per
 * executed block, the run-time facts the rules need (for each dynamic instruction: executed or
 * not, access address, divide cycles), and memoises the block's timing: the cycles a block adds
 * and the sequencer state it leaves depend only on (block, state it starts from, facts). On a
 * miss it calls back into Python, which applies the rules and returns the result; on a hit no
 * Python runs at all.
 *
 * Caches (ART I/D caches, spec §9) are kept here, not in the entry state: their contents almost
 * never repeat. What a block does to them is a fixed sequence of operations (touch or query a
 * line) given the block, its entry state and its facts, so the memo stores that sequence once
 * per key, replays it on the caches below and keys the result on the answers (hit or miss of
 * each operation): equal answers time the block equally.
 *
 * Unicorn's C API is declared here by hand (the few functions used); the engine passes the
 * uc_engine handle of its Unicorn object.
 */
#define _POSIX_C_SOURCE 200809L /* sigaction */
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

typedef void uc_engine;
typedef size_t uc_hook;
extern int uc_hook_add(uc_engine *uc, uc_hook *hh, int type, void *callback, void *user_data,
                       uint64_t begin, uint64_t end, ...);
extern int uc_reg_read(uc_engine *uc, int regid, void *value);
extern int uc_emu_stop(uc_engine *uc);

#define UC_HOOK_CODE 4
#define UC_HOOK_BLOCK 8
#define UC_ARM_REG_CPSR 3

/* Instruction kinds in the per-address table. */
#define K_PLAIN 0   /* dynamic but needs no value (IT, BKPT, SVC, WFI) */
#define K_MEM 1
#define K_DIV 2
#define K_MASK 3    /* CPS/MSR: may unmask a pending exception */
#define FILTER_BITS (1u << 16)
#define K_NONE 4    /* not dynamic: in the table only for its traps (an FPU instruction) */

/* Faults the hooks raise before an instruction executes (codes of the fault callback). */
#define TRAP_NOCP 1      /* an FPU instruction while CPACR denies CP10/CP11 */
#define TRAP_UNALIGNED 2 /* LDRD/LDM/VLDR... off word alignment, or any access with UNALIGN_TRP */
#define TRAP_DIVBYZERO 3 /* SDIV/UDIV by 0 with CCR.DIV_0_TRP */
#define TRAP_UNDEFINED 4 /* an instruction the board's core lacks (UNDEFINSTR, or NOCP) */

typedef struct {
    uint32_t address;
    uint8_t used, kind, cond, pc_base, tb, descending, div_signed, shift;
    uint8_t subtract, nregs;
    uint8_t fp;       /* 1: an FPU instruction (NOCP while CPACR denies it); 2: not in the
                       * core's instruction set (always traps when it executes) */
    uint8_t align[2]; /* address bits that must be 0: [CCR.UNALIGN_TRP] */
    int32_t base_reg, index_reg, div_n, div_m; /* Unicorn register ids, -1 = none */
    int32_t disp;
} Info; /* 40 bytes: the hooks probe this table on every instruction */

typedef struct {
    uint32_t pc, executed, address, div;
} Fact;

/* One cache operation of a block: line is absolute, or relative to the first line of fact
 * `fact`'s access (data accesses: the same code touches different lines each time). */
typedef struct {
    int32_t cache, kind, fact;
    int64_t line;
} Op;

#define OP_TOUCH 0
#define OP_QUERY 1
#define MAX_CACHES 8
#define MAX_LINES 256

#define NEVENTS 3 /* DWT profiling counter events of a block: CPI, LSU, FOLD (M4-DWT-2) */
#define NOUT (5 + NEVENTS) /* d_first d_exit exit count events tag */

typedef struct {
    int64_t d_first, d_exit, exit_state, count;
    int64_t events[NEVENTS];
    int64_t tag; /* > 0: Python explained this result (annotate); C counts its hits */
} Result;

/* What a block does to the caches from one (entry state, facts), and its results by answers. */
typedef struct {
    Op *ops;
    int nops, nwords;  /* answers take nwords 64-bit words */
    uint64_t *answers; /* nres * nwords */
    Result *results;
    int nres, cap;
} Trace;

typedef struct {
    uint64_t key_block; /* address << 32 | size */
    uint64_t sig;
    int64_t entry_state;
    Trace *trace;
    int used;
} Memo;

typedef struct {
    int64_t lines[MAX_LINES]; /* least recently used first */
    int count, capacity;
} Cache;

typedef struct {
    uint64_t key_block;
    int64_t count, bound; /* instructions; upper bound of its cycles (exception windows) */
    uint64_t memo_hint;   /* 1 + the memo slot of its last hit (checked before use) */
    int used;
} BlockLen;

typedef struct {
    uint64_t key; /* previous block << 32 | block */
    int64_t instructions;
    int used;
} Quiet;

typedef struct {
    uint32_t start, end, index, low_mask; /* low_mask: address bits the timing depends on */
    uint32_t base, line_bytes;            /* canonical base (aliases fold onto it), line size */
} Region;

#define STOP_LIMIT 0     /* the next block would pass the instruction limit */
#define STOP_INTERRUPT 1 /* Ctrl-C */

/* Python callbacks. */
typedef int64_t (*translate_fn)(uint64_t address, uint32_t size); /* count | bound << 32 */
typedef void (*settle_fn)(uint64_t address, uint32_t size, int64_t state, const Fact *facts,
                          int64_t nfacts, int64_t *out); /* out: d_first d_exit exit count events */
typedef void (*limit_fn)(uint64_t address, int reason); /* STOP_LIMIT or STOP_INTERRUPT */
/* A reported block, with the edges skipped since the previous report (see observe()). */
typedef void (*observe_fn)(uint64_t address, int64_t cycle, uint64_t previous,
                           int64_t skipped_instructions);
typedef int (*check_fn)(uint64_t address); /* 1: an exception comes in before `address` */
/* A trap at `pc` (TRAP_*, with the access address for TRAP_UNALIGNED): Python takes the fault
 * before the instruction executes. */
typedef void (*fault_fn)(uint64_t pc, int code, uint32_t address);

/* Everything one engine's fast path keeps: the library itself holds no state, so every Engine
 * of a process shares one loaded copy and passes its own context to each call. */
typedef struct {
    /* the hooks' hot fields first, the large arrays last */
    uint64_t cur_block;
    uint32_t pc; /* the instruction executing now: the last one the code hook saw */
    int have_cur, stopped;
    int observed; /* the current block's observer event was already sent (clock read) */
    int cleared;  /* the memo was cleared during a Python callback */
    int window, rearm;
    int64_t nfacts;
    Info *infos;
    uint32_t info_mask, info_used;
    uint32_t write_buffer_off; /* ACTLR.DISDEFWBUF (M4-LS-WB), set by the engine */
    int64_t state, now, instructions, max_instructions, saved_max;
    /* Exceptions (M4-EXC-POINT): the earliest cycle one may be due; blocks whose cycle bound
     * reaches it ask Python at every instruction boundary (window). rearm: one is pending but
     * masked, so a CPS/MSR opens a window. */
    int64_t deadline;
    BlockLen *cur_len;
    int last_region; /* the region of the last access (most accesses stay in one) */
    Memo *memo;
    uint64_t memo_mask, memo_used;
    BlockLen *lens;
    uint32_t lens_mask, lens_used;
    int64_t hits, misses, mismatches;
    int64_t *tag_hits; /* memo hits per explanation tag (annotate), tag_cap entries */
    int64_t tag_cap;
    int explain_off; /* annotate --region: outside the region, hits are not counted */
    int force_miss;  /* time the block in progress in Python, without the memo (a region edge) */
    _Alignas(16) int64_t events[NEVENTS]; /* running totals of the settled blocks' events */

    translate_fn py_translate;
    settle_fn py_settle;
    limit_fn py_limit;
    observe_fn py_observe;
    check_fn py_check;
    fault_fn py_fault;
    int fpu_on, unalign_trp, div0_trp; /* CPACR and CCR as the firmware set them */

    int ncaches;
    Op *ops_buf; /* the operations Python reported for the block it just timed */
    uint8_t *ops_hit;
    int ops_n, ops_cap;
    uint64_t *answers; /* scratch: answers of one replay */
    int answers_cap;

    /* Edge batching for a block observer (the profiler): edges it declared quiet are not
     * reported to Python; their declared instruction counts add up until the next reported
     * block. */
    Quiet *quiet;
    uint32_t quiet_mask, quiet_used;
    int batching, force_report;
    uint64_t last_block; /* the last observed block (reported or skipped) */
    int64_t skipped_instructions;

    /* A bit per (address >> 1) modulo FILTER_BITS: clear means no Info for that address, so
     * most hooked instructions skip the table probe. */
    uint8_t filter[FILTER_BITS / 8];
    int nregions;
    Region regions[64];
    Fact facts[8192];
    Cache caches[MAX_CACHES], saved[MAX_CACHES];
} Ctx;

void fp_release(Ctx *ctx);

#ifndef FP_BUILD_ID
#define FP_BUILD_ID "unknown"
#endif

/* The hash of the inputs this library was built from (the loader checks it). */
const char *fp_build_id(void) { return FP_BUILD_ID; }

/* Ctrl-C (SIGINT) while Unicorn runs: no Python runs on a memo hit, so the interpreter's own
 * handler would wait for the next miss (or the instruction limit). While a run catches SIGINT,
 * this handler drops the running context's instruction limit, so that its block hook stops at
 * the next block as at the limit (no test of its own on the hot path), and flags why. The one
 * signal is process-wide, so is this state (the only state outside the contexts). */
static volatile sig_atomic_t interrupted;
static Ctx *volatile watched; /* the context whose run catches SIGINT */
static struct sigaction previous_sigint;

static void on_sigint(int sig)
{
    (void)sig;
    interrupted = 1;
    Ctx *ctx = watched;
    if (ctx != NULL)
        ctx->max_instructions = INT64_MIN; /* one aligned store: the hook reads it whole */
}

/* on = 1: catch SIGINT during this context's run (and forget an earlier one); 0: give it back
 * to whoever had it and restore the limit. Returns whether a SIGINT came while catching. */
int fp_catch_sigint(Ctx *ctx, int on)
{
    int seen = interrupted;
    if (on && watched == NULL) {
        struct sigaction mine;
        memset(&mine, 0, sizeof mine);
        mine.sa_handler = on_sigint;
        sigemptyset(&mine.sa_mask);
        interrupted = 0;
        ctx->saved_max = ctx->max_instructions;
        watched = ctx;
        if (sigaction(SIGINT, &mine, &previous_sigint) != 0)
            watched = NULL;
    } else if (!on && watched == ctx) {
        sigaction(SIGINT, &previous_sigint, NULL);
        watched = NULL;
        ctx->max_instructions = ctx->saved_max;
    }
    return seen;
}

static uint32_t hash32(uint32_t x)
{
    x ^= x >> 16;
    x *= 0x7feb352dU;
    x ^= x >> 15;
    x *= 0x846ca68bU;
    x ^= x >> 16;
    return x;
}

static uint64_t mix64(uint64_t h, uint64_t v)
{
    h ^= v + 0x9e3779b97f4a7c15ULL + (h << 6) + (h >> 2);
    h *= 0xff51afd7ed558ccdULL;
    return h ^ (h >> 33);
}

static void free_traces(Ctx *ctx)
{
    if (ctx->memo == NULL)
        return;
    for (uint64_t k = 0; k <= ctx->memo_mask; k++) {
        Trace *t = ctx->memo[k].used ? ctx->memo[k].trace : NULL;
        if (t != NULL) {
            free(t->ops);
            free(t->answers);
            free(t->results);
            free(t);
        }
    }
}

/* A new context (NULL when out of memory): `info_capacity_log2` sizes the table of dynamic
 * instructions, `max_instr` is the instruction limit. fp_release frees it. */
Ctx *fp_new(uint32_t info_capacity_log2, int64_t max_instr)
{
    Ctx *ctx = calloc(1, sizeof(Ctx));
    if (ctx == NULL)
        return NULL;
    ctx->info_mask = (1u << info_capacity_log2) - 1;
    ctx->infos = calloc((size_t)ctx->info_mask + 1, sizeof(Info));
    ctx->memo_mask = (1u << 12) - 1;
    ctx->memo = calloc(ctx->memo_mask + 1, sizeof(Memo));
    ctx->lens_mask = (1u << 10) - 1;
    ctx->lens = calloc((size_t)ctx->lens_mask + 1, sizeof(BlockLen));
    ctx->quiet_mask = (1u << 10) - 1;
    ctx->quiet = calloc((size_t)ctx->quiet_mask + 1, sizeof(Quiet));
    ctx->last_block = UINT64_MAX;
    ctx->deadline = INT64_MAX;
    ctx->max_instructions = max_instr;
    if (!(ctx->infos && ctx->memo && ctx->lens && ctx->quiet)) {
        fp_release(ctx);
        return NULL;
    }
    return ctx;
}

void fp_set_callbacks(Ctx *ctx, translate_fn t, settle_fn s, limit_fn l, observe_fn o, check_fn c,
                      fault_fn f)
{
    ctx->py_translate = t;
    ctx->py_settle = s;
    ctx->py_limit = l;
    ctx->py_observe = o;
    ctx->py_check = c;
    ctx->py_fault = f;
}

/* The fault configuration: FPU access (CPACR), CCR.UNALIGN_TRP and CCR.DIV_0_TRP. */
void fp_set_traps(Ctx *ctx, int fpu_on, int unalign_trp, int div0_trp)
{
    ctx->fpu_on = fpu_on;
    ctx->unalign_trp = unalign_trp != 0; /* indexes Info.align */
    ctx->div0_trp = div0_trp;
}

int fp_add_region(Ctx *ctx, uint32_t start, uint32_t end, uint32_t index, uint32_t low_mask,
                  uint32_t base, uint32_t line_bytes)
{
    if (ctx->nregions >= 64 || line_bytes == 0)
        return -1;
    Region *r = &ctx->regions[ctx->nregions++];
    r->start = start;
    r->end = end;
    r->index = index;
    r->low_mask = low_mask;
    r->base = base;
    r->line_bytes = line_bytes;
    return 0;
}

/* -- caches (mirror cmsim.memory.LruLines; a test compares them) ------------------------- */

int fp_add_cache(Ctx *ctx, int capacity)
{
    if (ctx->ncaches >= MAX_CACHES || capacity <= 0 || capacity > MAX_LINES)
        return -1;
    ctx->caches[ctx->ncaches].count = 0;
    ctx->caches[ctx->ncaches].capacity = capacity;
    return ctx->ncaches++;
}

static int cache_find(const Cache *c, int64_t line)
{
    for (int k = c->count - 1; k >= 0; k--) /* recent lines are at the end */
        if (c->lines[k] == line)
            return k;
    return -1;
}

/* Use a line: 1 on a hit (it becomes the most recent), 0 on a miss (filled, LRU evicted). */
int fp_cache_touch(Ctx *ctx, int id, int64_t line)
{
    Cache *c = &ctx->caches[id];
    int k = cache_find(c, line);
    if (k >= 0) {
        memmove(&c->lines[k], &c->lines[k + 1], (size_t)(c->count - 1 - k) * sizeof(int64_t));
        c->lines[c->count - 1] = line;
        return 1;
    }
    if (c->count == c->capacity) {
        memmove(&c->lines[0], &c->lines[1], (size_t)(c->count - 1) * sizeof(int64_t));
        c->count--;
    }
    c->lines[c->count++] = line;
    return 0;
}

static void copy_caches(Ctx *ctx, Cache *to, const Cache *from)
{
    for (int k = 0; k < ctx->ncaches; k++) {
        to[k].count = from[k].count;
        to[k].capacity = from[k].capacity;
        memcpy(to[k].lines, from[k].lines, (size_t)from[k].count * sizeof(int64_t));
    }
}

int fp_cache_query(Ctx *ctx, int id, int64_t line)
{
    return cache_find(&ctx->caches[id], line) >= 0;
}

/* A cache's lines, least recently used first; returns how many. */
int fp_cache_get(Ctx *ctx, int id, int64_t *out)
{
    memcpy(out, ctx->caches[id].lines, (size_t)ctx->caches[id].count * sizeof(int64_t));
    return ctx->caches[id].count;
}

int fp_cache_set(Ctx *ctx, int id, const int64_t *lines, int n)
{
    if (n > ctx->caches[id].capacity)
        return -1;
    memcpy(ctx->caches[id].lines, lines, (size_t)n * sizeof(int64_t));
    ctx->caches[id].count = n;
    return 0;
}

/* Python reports the cache operations of the block it is timing: (cache, kind, fact, line,
 * hit) per operation, line relative to the fact's first data line when fact >= 0. */
int fp_set_ops(Ctx *ctx, const int64_t *flat, int n)
{
    if (n > ctx->ops_cap) {
        ctx->ops_cap = n * 2;
        ctx->ops_buf = realloc(ctx->ops_buf, (size_t)ctx->ops_cap * sizeof(Op));
        ctx->ops_hit = realloc(ctx->ops_hit, (size_t)ctx->ops_cap);
        if (ctx->ops_buf == NULL || ctx->ops_hit == NULL)
            return -1;
    }
    for (int k = 0; k < n; k++) {
        const int64_t *o = &flat[5 * k];
        ctx->ops_buf[k].cache = (int32_t)o[0];
        ctx->ops_buf[k].kind = (int32_t)o[1];
        ctx->ops_buf[k].fact = (int32_t)o[2];
        ctx->ops_buf[k].line = o[3];
        ctx->ops_hit[k] = (uint8_t)o[4];
    }
    ctx->ops_n = n;
    return 0;
}

static Info *info_slot(Ctx *ctx, uint32_t address)
{
    uint32_t slot = hash32(address) & ctx->info_mask;
    while (ctx->infos[slot].used && ctx->infos[slot].address != address)
        slot = (slot + 1) & ctx->info_mask;
    return &ctx->infos[slot];
}

/* Keep the table at most half full: instructions are added as blocks are first translated. */
static int info_grow(Ctx *ctx)
{
    Info *old = ctx->infos;
    uint32_t old_mask = ctx->info_mask;
    Info *grown = calloc((size_t)old_mask * 2 + 2, sizeof(Info));
    if (grown == NULL)
        return -1;
    ctx->infos = grown;
    ctx->info_mask = old_mask * 2 + 1;
    for (uint32_t k = 0; k <= old_mask; k++)
        if (old[k].used)
            *info_slot(ctx, old[k].address) = old[k];
    free(old);
    return 0;
}

int fp_add_info(Ctx *ctx, uint32_t address, int kind, int cond, int pc_base, int tb, int descending,
                int shift, int base_reg, int index_reg, int disp, int subtract, int nregs,
                int div_signed, int div_n, int div_m, int traps)
{
    if ((ctx->info_used + 1) * 2 > ctx->info_mask && info_grow(ctx) != 0)
        return -1;
    uint32_t bit = (address >> 1) & (FILTER_BITS - 1);
    ctx->filter[bit >> 3] |= (uint8_t)(1u << (bit & 7));
    Info *e = info_slot(ctx, address);
    ctx->info_used += !e->used;
    e->used = 1;
    e->address = address;
    e->kind = (uint8_t)kind;
    e->cond = (uint8_t)cond;
    e->pc_base = (uint8_t)pc_base;
    e->tb = (uint8_t)tb;
    e->descending = (uint8_t)descending;
    e->shift = (uint8_t)shift;
    e->base_reg = base_reg;
    e->index_reg = index_reg;
    e->disp = disp;
    e->subtract = (uint8_t)subtract;
    e->nregs = (uint8_t)nregs;
    e->div_signed = (uint8_t)div_signed;
    e->div_n = div_n;
    e->div_m = div_m;
    e->fp = (uint8_t)(traps & 3);
    e->align[0] = (uint8_t)(traps >> 8);
    e->align[1] = (uint8_t)((traps >> 8) | (traps >> 16));
    return 0;
}

static const Info *find_info(Ctx *ctx, uint32_t address)
{
    uint32_t slot = hash32(address) & ctx->info_mask;
    for (;;) {
        const Info *e = &ctx->infos[slot];
        if (!e->used)
            return NULL;
        if (e->address == address)
            return e;
        slot = (slot + 1) & ctx->info_mask;
    }
}

/* ARM condition in Capstone numbering (EQ = 1 ... AL = 15) against NZCV. */
static int condition_passed(int cond, uint32_t cpsr)
{
    int n = (cpsr >> 31) & 1, z = (cpsr >> 30) & 1, c = (cpsr >> 29) & 1, v = (cpsr >> 28) & 1;
    int base = (cond - 1) >> 1, result;
    switch (base) {
    case 0: result = z; break;
    case 1: result = c; break;
    case 2: result = n; break;
    case 3: result = v; break;
    case 4: result = c && !z; break;
    case 5: result = n == v; break;
    case 6: result = !z && n == v; break;
    default: return 1;
    }
    return ((cond - 1) & 1) ? !result : result;
}

static int highest_bit(uint32_t x) { return 31 - __builtin_clz(x); }

/* M4-DIV-1 (mirrors cmsim.timing.cortex_m4.udiv_cycles / sdiv_cycles; a test compares them). */
uint32_t fp_div_cycles(int is_signed, uint32_t n, uint32_t m)
{
    if (n == 0 || m == 0)
        return 2;
    if (!is_signed) {
        if (highest_bit(n) < highest_bit(m))
            return 3;
        return 5 + (uint32_t)(highest_bit(n) - highest_bit(m)) / 4;
    }
    uint32_t a = (n & 0x80000000u) ? (uint32_t)(0u - n) : n;
    uint32_t b = (m & 0x80000000u) ? (uint32_t)(0u - m) : m;
    int d = highest_bit(a) - highest_bit(b);
    int pow2 = (b & (b - 1)) == 0;
    if ((m & 0x80000000u) && pow2 && n != 0x80000000u)
        d += 1;
    if ((m & 0x80000000u) && !pow2 && n == 0x80000000u)
        d -= 1;
    return d < 0 ? 3 : 5 + (uint32_t)d / 4;
}

static uint32_t reg(uc_engine *uc, int id)
{
    uint32_t value = 0;
    uc_reg_read(uc, id, &value);
    return value;
}

/* What of an access address the timing can depend on: its region and low bits, or the whole
 * address in regions with wait states or caches. */
static const Region *region_of(Ctx *ctx, uint32_t address)
{
    const Region *last = &ctx->regions[ctx->last_region];
    if (last->start <= address && address < last->end)
        return last;
    for (int k = 0; k < ctx->nregions; k++)
        if (ctx->regions[k].start <= address && address < ctx->regions[k].end) {
            ctx->last_region = k;
            return &ctx->regions[k];
        }
    return NULL;
}

/* Which line an access is in decides cache answers only; those are replayed (see Trace). */
static uint64_t address_class(Ctx *ctx, uint32_t address)
{
    const Region *r = region_of(ctx, address);
    return r ? (uint64_t)r->index << 16 | (address & r->low_mask) : 0xFFFFFFFF;
}

/* First cache line of a data access (cmsim.memory.MemoryModel.data_line). */
static int64_t data_line(Ctx *ctx, uint32_t address)
{
    const Region *r = region_of(ctx, address);
    return r ? (int64_t)((address - r->start + r->base) / r->line_bytes) : 0;
}

/* Apply ops to the caches in order; the answers go to `answers` as bits. */
static void replay(Ctx *ctx, const Op *ops, int nops)
{
    int nwords = (nops + 63) / 64;
    if (nwords > ctx->answers_cap) {
        ctx->answers_cap = nwords * 2;
        ctx->answers = realloc(ctx->answers, (size_t)ctx->answers_cap * sizeof(uint64_t));
    }
    for (int w = 0; w < nwords; w++) /* few words: a loop beats a libc call */
        ctx->answers[w] = 0;
    for (int k = 0; k < nops; k++) {
        const Op *o = &ops[k];
        int64_t line =
            o->fact < 0 ? o->line : data_line(ctx, ctx->facts[o->fact].address) + o->line;
        int hit = o->kind == OP_TOUCH ? fp_cache_touch(ctx, o->cache, line)
                                      : fp_cache_query(ctx, o->cache, line);
        ctx->answers[k >> 6] |= (uint64_t)hit << (k & 63);
    }
}

static Result *find_result(Ctx *ctx, const Trace *t)
{
    for (int k = 0; k < t->nres; k++) {
        const uint64_t *mine = &t->answers[(size_t)k * t->nwords];
        int w = 0;
        while (w < t->nwords && mine[w] == ctx->answers[w])
            w++;
        if (w == t->nwords)
            return &t->results[k];
    }
    return NULL;
}

static Trace *new_trace(const Op *ops, int nops)
{
    Trace *t = calloc(1, sizeof(Trace));
    t->ops = malloc((size_t)(nops ? nops : 1) * sizeof(Op));
    memcpy(t->ops, ops, (size_t)nops * sizeof(Op));
    t->nops = nops;
    t->nwords = (nops + 63) / 64;
    return t;
}

static void add_result(Ctx *ctx, Trace *t, const int64_t *out)
{
    if (t->nres == t->cap) {
        t->cap = t->cap ? 2 * t->cap : 2;
        t->results = realloc(t->results, (size_t)t->cap * sizeof(Result));
        t->answers = realloc(t->answers, (size_t)t->cap * (t->nwords ? t->nwords : 1) * 8);
    }
    memcpy(&t->answers[(size_t)t->nres * t->nwords], ctx->answers, (size_t)t->nwords * 8);
    Result *r = &t->results[t->nres++];
    r->d_first = out[0];
    r->d_exit = out[1];
    r->exit_state = out[2];
    r->count = out[3];
    for (int k = 0; k < NEVENTS; k++)
        r->events[k] = out[4 + k];
    r->tag = out[4 + NEVENTS];
    if (r->tag >= ctx->tag_cap) {
        int64_t cap = 2 * r->tag + 64;
        int64_t *grown = realloc(ctx->tag_hits, (size_t)cap * sizeof(int64_t));
        if (grown == NULL) {
            r->tag = 0; /* not counted: the run goes on, the annotation would be short */
            ctx->mismatches++;
            return;
        }
        memset(grown + ctx->tag_cap, 0, (size_t)(cap - ctx->tag_cap) * sizeof(int64_t));
        ctx->tag_hits = grown;
        ctx->tag_cap = cap;
    }
}

/* Count the tagged results' hits (on) or not (off: outside the region being explained). */
void fp_set_explaining(Ctx *ctx, int on) { ctx->explain_off = !on; }

/* The block in progress is settled by Python, outside the memo (a region begins or ends in it). */
void fp_force_miss(Ctx *ctx) { ctx->force_miss = ctx->have_cur; }

/* Memo hits of the results Python tagged `tag` (0 for an unknown tag). */
int64_t fp_tag_hits(Ctx *ctx, int64_t tag)
{
    return tag > 0 && tag < ctx->tag_cap ? ctx->tag_hits[tag] : 0;
}

/* Replay Python's reported operations (the caches then hold the block's exit state); count a
 * mismatch when C's answers differ from Python's (never expected: tests check it is 0). */
static void replay_reported(Ctx *ctx)
{
    replay(ctx, ctx->ops_buf, ctx->ops_n);
    for (int k = 0; k < ctx->ops_n; k++)
        if ((int)((ctx->answers[k >> 6] >> (k & 63)) & 1) != ctx->ops_hit[k])
            ctx->mismatches++;
}

static int same_ops(Ctx *ctx, const Trace *t)
{
    return t->nops == ctx->ops_n &&
           memcmp(t->ops, ctx->ops_buf, (size_t)ctx->ops_n * sizeof(Op)) == 0;
}

static uint64_t signature(Ctx *ctx)
{
    uint64_t h = (uint64_t)ctx->nfacts;
    for (int64_t k = 0; k < ctx->nfacts; k++) {
        const Fact *f = &ctx->facts[k];
        uint64_t where = f->executed ? address_class(ctx, f->address) : 0;
        h = mix64(h, (uint64_t)f->pc << 1 | f->executed);
        h = mix64(h, where << 8 | f->div);
    }
    return h;
}

static Memo *memo_slot(Ctx *ctx, uint64_t key_block, uint64_t sig, int64_t entry)
{
    uint64_t slot = mix64(mix64(key_block, sig), (uint64_t)entry) & ctx->memo_mask;
    for (;;) {
        Memo *m = &ctx->memo[slot];
        if (!m->used || (m->key_block == key_block && m->sig == sig && m->entry_state == entry))
            return m;
        slot = (slot + 1) & ctx->memo_mask;
    }
}

static void memo_grow(Ctx *ctx)
{
    Memo *old = ctx->memo;
    uint64_t old_mask = ctx->memo_mask;
    ctx->memo_mask = ctx->memo_mask * 2 + 1;
    ctx->memo = calloc(ctx->memo_mask + 1, sizeof(Memo));
    for (uint64_t k = 0; k <= old_mask; k++)
        if (old[k].used)
            *memo_slot(ctx, old[k].key_block, old[k].sig, old[k].entry_state) = old[k];
    free(old);
}

static Quiet *quiet_slot(Ctx *ctx, uint64_t key)
{
    uint32_t slot = hash32((uint32_t)(key >> 32) * 31u ^ (uint32_t)key) & ctx->quiet_mask;
    for (;;) {
        Quiet *q = &ctx->quiet[slot];
        if (!q->used || q->key == key)
            return q;
        slot = (slot + 1) & ctx->quiet_mask;
    }
}

/* The observer will not be told about blocks reached by previous -> address; the edge stands
 * for `instructions` instructions of the previous block. */
int fp_add_quiet(Ctx *ctx, uint32_t previous, uint32_t address, int64_t instructions)
{
    if ((ctx->quiet_used + 1) * 2 > ctx->quiet_mask) {
        Quiet *old = ctx->quiet;
        uint32_t old_mask = ctx->quiet_mask;
        Quiet *grown = calloc((size_t)old_mask * 2 + 2, sizeof(Quiet));
        if (grown == NULL)
            return -1;
        ctx->quiet = grown;
        ctx->quiet_mask = old_mask * 2 + 1;
        for (uint32_t k = 0; k <= old_mask; k++)
            if (old[k].used)
                *quiet_slot(ctx, old[k].key) = old[k];
        free(old);
    }
    Quiet *q = quiet_slot(ctx, (uint64_t)previous << 32 | address);
    ctx->quiet_used += !q->used;
    q->used = 1;
    q->key = (uint64_t)previous << 32 | address;
    q->instructions = instructions;
    return 0;
}

/* Skip quiet edges only while on (the engine turns it off when a second observer comes). */
void fp_set_batching(Ctx *ctx, int on) { ctx->batching = on; }

/* Hand the skipped edges to the caller: the last observed block and their instructions; with
 * `force`, the next block is reported whatever its edge. */
int64_t fp_take_batch(Ctx *ctx, uint64_t *previous, int force)
{
    int64_t n = ctx->skipped_instructions;
    ctx->skipped_instructions = 0;
    *previous = ctx->last_block;
    ctx->force_report |= force;
    return n;
}

/* A block starts at `cycle`: report it unless its edge is quiet. Observers need Python only
 * where the call stack may change; a plain edge costs a table lookup here. */
static void observe(Ctx *ctx, uint64_t address, int64_t cycle)
{
    if (ctx->batching && !ctx->force_report) {
        Quiet *q = quiet_slot(ctx, ctx->last_block << 32 | address);
        if (q->used) {
            ctx->skipped_instructions += q->instructions;
            ctx->last_block = address;
            return;
        }
    }
    ctx->force_report = 0;
    uint64_t previous = ctx->last_block;
    int64_t skipped = ctx->skipped_instructions;
    ctx->skipped_instructions = 0;
    ctx->last_block = address;
    ctx->py_observe(address, cycle, previous, skipped);
}

/* The block being recorded adds its results (inlined: this runs once per block). */
static inline __attribute__((always_inline)) void apply(Ctx *ctx, int64_t d_first,
                                                        int64_t d_exit, int64_t exit_state,
                                                        int64_t count, const int64_t *ev)
{
    ctx->events[0] += ev[0];
    ctx->events[1] += ev[1];
    ctx->events[2] += ev[2];
    if (ctx->py_observe && !ctx->observed && count > 0)
        observe(ctx, ctx->cur_block >> 32, ctx->now + d_first);
    ctx->observed = 0;
    ctx->now += d_exit;
    ctx->state = exit_state;
    ctx->instructions += count;
}

/* Settle the block being recorded: memo hit, or ask Python (partial = stopped inside it). */
static void settle_current(Ctx *ctx, int partial)
{
    if (!ctx->have_cur)
        return;
    ctx->have_cur = 0;
    int64_t out[NOUT];
    ctx->ops_n = 0;
    if (partial) {
        ctx->py_settle(ctx->cur_block >> 32, (uint32_t)ctx->cur_block, ctx->state, ctx->facts,
                       -ctx->nfacts - 1, out);
        replay_reported(ctx);
        apply(ctx, out[0], out[1], out[2], out[3], out + 4);
        return;
    }
    if (ctx->force_miss) { /* Python explains this one execution itself */
        ctx->force_miss = 0;
        ctx->misses++;
        ctx->py_settle(ctx->cur_block >> 32, (uint32_t)ctx->cur_block, ctx->state, ctx->facts,
                       ctx->nfacts, out);
        replay_reported(ctx);
        apply(ctx, out[0], out[1], out[2], out[3], out + 4);
        return;
    }
    uint64_t sig = signature(ctx);
    /* Most blocks repeat their last memo entry (loops): try it before probing the table. */
    BlockLen *len = ctx->cur_len;
    Memo *m = NULL;
    if (len->memo_hint && len->memo_hint - 1 <= ctx->memo_mask) {
        Memo *h = &ctx->memo[len->memo_hint - 1];
        if (h->used && h->key_block == ctx->cur_block && h->sig == sig && h->entry_state == ctx->state)
            m = h;
    }
    if (m == NULL) {
        m = memo_slot(ctx, ctx->cur_block, sig, ctx->state);
        if (m->used)
            len->memo_hint = (uint64_t)(m - ctx->memo) + 1;
    }
    if (m->used) {
        Trace *t = m->trace;
        const Result *r;
        if (t->nops == 0) { /* no cache in the way (the usual case off flash) */
            r = t->nres ? &t->results[0] : NULL;
        } else {
            copy_caches(ctx, ctx->saved, ctx->caches);
            replay(ctx, t->ops, t->nops);
            r = find_result(ctx, t);
        }
        if (r != NULL) {
            ctx->hits++;
            if (r->tag > 0 && !ctx->explain_off)
                ctx->tag_hits[r->tag]++;
            apply(ctx, r->d_first, r->d_exit, r->exit_state, r->count, r->events);
            return;
        }
        if (t->nops) /* new answers: Python times the block from the entry caches */
            copy_caches(ctx, ctx->caches, ctx->saved);
    }
    ctx->misses++;
    int64_t entry = ctx->state;
    ctx->cleared = 0;
    ctx->ops_n = 0;
    ctx->py_settle(ctx->cur_block >> 32, (uint32_t)ctx->cur_block, entry, ctx->facts, ctx->nfacts,
                   out);
    replay_reported(ctx);
    if (ctx->cleared) { /* state ids were renumbered: do not store a result keyed by the old one */
        apply(ctx, out[0], out[1], out[2], out[3], out + 4);
        return;
    }
    m = memo_slot(ctx, ctx->cur_block, sig, entry);
    if (!m->used) {
        m->used = 1;
        m->key_block = ctx->cur_block;
        m->sig = sig;
        m->entry_state = entry;
        m->trace = new_trace(ctx->ops_buf, ctx->ops_n);
        ctx->memo_used++;
    }
    int grow = ctx->memo_used * 2 > ctx->memo_mask;
    if (same_ops(ctx, m->trace))
        add_result(ctx, m->trace, out);
    else
        ctx->mismatches++; /* the operations are a function of the key (never expected) */
    apply(ctx, out[0], out[1], out[2], out[3], out + 4);
    if (grow)
        memo_grow(ctx);
}

static void lens_grow(Ctx *ctx)
{
    BlockLen *old = ctx->lens;
    uint32_t old_mask = ctx->lens_mask;
    ctx->lens_mask = ctx->lens_mask * 2 + 1;
    ctx->lens = calloc((size_t)ctx->lens_mask + 1, sizeof(BlockLen));
    for (uint32_t k = 0; k <= old_mask; k++) {
        if (!old[k].used)
            continue;
        uint64_t kk = old[k].key_block;
        uint32_t s = hash32((uint32_t)(kk >> 32) ^ (uint32_t)kk * 31u) & ctx->lens_mask;
        while (ctx->lens[s].used)
            s = (s + 1) & ctx->lens_mask;
        ctx->lens[s] = old[k];
    }
    free(old);
}

static BlockLen *block_length(Ctx *ctx, uint64_t key)
{
    for (;;) {
        uint32_t slot = hash32((uint32_t)(key >> 32) ^ (uint32_t)key * 31u) & ctx->lens_mask;
        for (;;) {
            BlockLen *e = &ctx->lens[slot];
            if (e->used && e->key_block == key)
                return e;
            if (!e->used)
                break;
            slot = (slot + 1) & ctx->lens_mask;
        }
        if ((ctx->lens_used + 1) * 2 > ctx->lens_mask) {
            lens_grow(ctx);
            continue;
        }
        BlockLen *e = &ctx->lens[slot];
        int64_t packed = ctx->py_translate(key >> 32, (uint32_t)key);
        e->used = 1;
        e->key_block = key;
        e->count = packed & 0xFFFFFFFF;
        e->bound = packed >> 32;
        ctx->lens_used++;
        return e;
    }
}

static void on_block(uc_engine *uc, uint64_t address, uint32_t size, void *user)
{
    Ctx *ctx = user;
    if (ctx->stopped)
        return;
    settle_current(ctx, 0);
    uint64_t key = address << 32 | size;
    ctx->cur_len = block_length(ctx, key);
    int64_t count = ctx->cur_len->count;
    if (ctx->instructions + count > ctx->max_instructions) {
        ctx->stopped = 1;
        ctx->py_limit(address, interrupted ? STOP_INTERRUPT : STOP_LIMIT);
        uc_emu_stop(uc);
        return;
    }
    ctx->cur_block = key;
    ctx->nfacts = 0;
    ctx->have_cur = 1;
    ctx->observed = 0;
    ctx->window = ctx->deadline != INT64_MAX && ctx->now + ctx->cur_len->bound >= ctx->deadline;
}

/* A trap: Python enters the fault's handler (or ends the run) before the instruction runs. */
static void trap(Ctx *ctx, uint64_t address, int code, uint32_t access)
{
    ctx->stopped = 1; /* Python stopped the emulation; the engine resumes the hooks */
    ctx->py_fault(address, code, access);
}

/* An FPU instruction: NOCP when it executes while CPACR denies the FPU. 1 when the hook has
 * nothing more to do (it trapped, or the instruction is in the table only for this check). */
static int fp_check(Ctx *ctx, uc_engine *uc, const Info *info, uint64_t address)
{
    if (info->fp & 2 && (!info->cond || condition_passed(info->cond, reg(uc, UC_ARM_REG_CPSR)))) {
        trap(ctx, address, TRAP_UNDEFINED, 0);
        return 1;
    }
    if (info->fp & 1 && !ctx->fpu_on &&
        (!info->cond || condition_passed(info->cond, reg(uc, UC_ARM_REG_CPSR)))) {
        trap(ctx, address, TRAP_NOCP, 0);
        return 1;
    }
    return info->kind == K_NONE;
}

static void on_code(uc_engine *uc, uint64_t address, uint32_t size, void *user)
{
    Ctx *ctx = user;
    (void)size;
    ctx->pc = (uint32_t)address; /* MMIO callbacks (DWT, markers) ask which one executes */
    if (!ctx->have_cur || ctx->stopped)
        return;
    uint32_t bit = ((uint32_t)address >> 1) & (FILTER_BITS - 1);
    const Info *info =
        ctx->filter[bit >> 3] >> (bit & 7) & 1 ? find_info(ctx, (uint32_t)address) : NULL;
    /* No exception inside an IT block: its covered instructions carry a condition. */
    if (ctx->window && (info == NULL || !info->cond) && ctx->py_check(address)) {
        ctx->stopped = 1; /* Python stopped the emulation; the engine resumes the hooks */
        return;
    }
    if (info == NULL || (info->fp && fp_check(ctx, uc, info, address)))
        return;
    if (ctx->nfacts >= (int64_t)(sizeof ctx->facts / sizeof ctx->facts[0]))
        return;
    if (info->kind == K_MASK && ctx->rearm) {
        ctx->deadline = 0; /* the mask may open: look again at the next boundary */
        ctx->window = 1;
    }
    Fact *f = &ctx->facts[ctx->nfacts++];
    f->pc = (uint32_t)address;
    f->executed = 1;
    f->address = 0;
    f->div = 0;
    if (info->cond)
        f->executed = (uint32_t)condition_passed(info->cond, reg(uc, UC_ARM_REG_CPSR));
    if (!f->executed)
        return;
    if (info->kind == K_MEM) {
        uint32_t a;
        if (info->pc_base)
            a = info->tb ? (uint32_t)address + 4 : (((uint32_t)address + 4) & ~3u);
        else
            a = reg(uc, info->base_reg);
        a += (uint32_t)info->disp;
        if (info->index_reg >= 0) {
            uint32_t offset = reg(uc, info->index_reg) << info->shift;
            a = info->subtract ? a - offset : a + offset;
        }
        if (info->descending)
            a -= 4u * (uint32_t)info->nregs;
        if (a & info->align[ctx->unalign_trp]) {
            ctx->nfacts--; /* it does not execute */
            trap(ctx, address, TRAP_UNALIGNED, a);
            return;
        }
        f->address = a;
        f->div = ctx->write_buffer_off; /* M4-LS-WB: ACTLR.DISDEFWBUF when the access issues */
    } else if (info->kind == K_DIV) {
        uint32_t m = reg(uc, info->div_m);
        if (m == 0 && ctx->div0_trp) {
            ctx->nfacts--;
            trap(ctx, address, TRAP_DIVBYZERO, 0);
            return;
        }
        f->div = fp_div_cycles(info->div_signed, reg(uc, info->div_n), m);
    }
}

/* Register the hooks: one block hook, code hooks on the given [begin, end] ranges. */
int fp_attach(Ctx *ctx, uc_engine *uc, const uint64_t *ranges, int nranges)
{
    uc_hook h;
    if (uc_hook_add(uc, &h, UC_HOOK_BLOCK, (void *)on_block, ctx, 1, 0))
        return -1;
    for (int k = 0; k < nranges; k++)
        if (uc_hook_add(uc, &h, UC_HOOK_CODE, (void *)on_code, ctx, ranges[2 * k],
                        ranges[2 * k + 1]))
            return -1;
    return 0;
}

/* End of run: settle the block in progress (partial when the run stopped inside it). */
void fp_finish(Ctx *ctx, int partial) { settle_current(ctx, partial); }

/* Exceptions: the earliest cycle one may be due (INT64_MAX: none can be), and whether a mask
 * change may let a pending one in. The block in progress looks at its remaining boundaries. */
void fp_set_deadline(Ctx *ctx, int64_t cycle, int rearm_on_mask)
{
    ctx->deadline = cycle;
    ctx->rearm = rearm_on_mask;
    if (ctx->have_cur && ctx->deadline != INT64_MAX)
        ctx->window = 1;
}

/* After exception entry or return: the time and state the next block starts from. */
void fp_set_clock(Ctx *ctx, int64_t time, int64_t entry_state)
{
    ctx->now = time;
    ctx->state = entry_state;
    ctx->have_cur = 0;
    ctx->stopped = 0;
}

/* The block being recorded, for clock reads in the middle of it. */
int64_t fp_current(Ctx *ctx, uint64_t *block, int64_t *entry_state, int64_t *time,
                   const Fact **out_facts)
{
    *block = ctx->have_cur ? ctx->cur_block : 0;
    *entry_state = ctx->state;
    *time = ctx->now;
    *out_facts = ctx->facts;
    return ctx->have_cur ? ctx->nfacts : -1;
}

/* Free a context (the engine is gone; its Unicorn object must not run again). */
void fp_release(Ctx *ctx)
{
    if (ctx == NULL)
        return;
    if (watched == ctx)
        fp_catch_sigint(ctx, 0);
    free(ctx->infos);
    free_traces(ctx);
    free(ctx->memo);
    free(ctx->lens);
    free(ctx->quiet);
    free(ctx->ops_buf);
    free(ctx->ops_hit);
    free(ctx->answers);
    free(ctx->tag_hits);
    free(ctx);
}

/* The instruction executing now (Unicorn syncs no PC register for MMIO accesses). */
uint32_t fp_pc(Ctx *ctx) { return ctx->pc; }

/* A new emulation starts: hooks are live again after a stop (instruction limit). */
void fp_resume(Ctx *ctx) { ctx->stopped = 0; }

/* A new instruction limit (callers may raise it between runs). */
/* ACTLR.DISDEFWBUF changed: memory accesses from now on record it (M4-LS-WB). */
void fp_set_write_buffer_off(Ctx *ctx, int off) { ctx->write_buffer_off = (uint32_t)off; }

void fp_set_max(Ctx *ctx, int64_t value) { ctx->max_instructions = ctx->saved_max = value; }

/* Forget every memoised block (the engine renumbers its states). */
void fp_clear_memo(Ctx *ctx)
{
    free_traces(ctx);
    memset(ctx->memo, 0, (ctx->memo_mask + 1) * sizeof(Memo));
    ctx->memo_used = 0;
    ctx->cleared = 1;
}

/* The engine sent the current block's observer event itself (before a mid-block clock read),
 * after taking the skipped edges (fp_take_batch). */
void fp_mark_observed(Ctx *ctx)
{
    ctx->observed = 1;
    ctx->last_block = ctx->cur_block >> 32;
}

void fp_totals(Ctx *ctx, int64_t *out)
{
    out[0] = ctx->now;
    out[1] = ctx->state;
    out[2] = ctx->instructions;
    out[3] = ctx->hits;
    out[4] = ctx->misses;
    out[5] = ctx->mismatches;
    for (int k = 0; k < NEVENTS; k++)
        out[6 + k] = ctx->events[k];
}
