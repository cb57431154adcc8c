"""cmsim.validate.cmemu: CMEmu's CC2652 hardware dumps replayed on the cc2652 board.

The corpus lives in shared/validation/cmemu-cc2652 next to the repository (read-only). These
tests use a small sample; tests/bench/validate_cmemu.py runs the whole folder."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from cmsim.cli import main
from cmsim.errors import CmsimError
from cmsim.validate import cmemu

CORPUS = Path(__file__).resolve().parents[2] / "shared" / "validation" / "cmemu-cc2652"
MUL = CORPUS / "instructions" / "data_processing" / "mul.tzst"
B_SEQ = CORPUS / "instructions" / "control_flow" / "b_seq.tzst"
LDRD = CORPUS / "instructions" / "memory" / "ldrd.tzst"
WRITES = CORPUS / "misc" / "writes_pipelining.tzst"
BX_SEQ = CORPUS / "instructions" / "control_flow" / "bx_seq.tzst"
MLA_B = CORPUS / "instructions" / "data_processing" / "mla_mls_b.tzst"
UDIV = CORPUS / "instructions" / "data_processing" / "udiv.tzst"
LDR_DWT_MEM = CORPUS / "instructions" / "memory" / "ldr_dwt_mem.tzst"
STR = CORPUS / "instructions" / "memory" / "str.tzst"
BITBAND_LDR_STR = CORPUS / "misc" / "bitbanding" / "ldr_str.tzst"
IT_BX = CORPUS / "instructions" / "control_flow" / "it_and_blx_bx_mov_pc_lr.tzst"
LDR_PC = CORPUS / "instructions" / "control_flow" / "ldr_pc.tzst"
POP_PC = CORPUS / "instructions" / "control_flow" / "pop_pc.tzst"
CBZ_AFTER_LDR = CORPUS / "instructions" / "control_flow" / "cbz_after_ldr.tzst"
CBZ_DEPS = CORPUS / "instructions" / "control_flow" / "cbz_deps.tzst"
IT_SKIP = CORPUS / "instructions" / "control_flow" / "it_fold_after_skipped_branch.tzst"
LDR_DEPS = CORPUS / "instructions" / "memory" / "ldr_ldm_ldmdb_ldrd_deps.tzst"
STRB_STRH = CORPUS / "instructions" / "memory" / "strb_strh.tzst"
STR_IMM = CORPUS / "instructions" / "memory" / "str_imm.tzst"
LDM_NARROW = CORPUS / "instructions" / "memory" / "ldm_narrow.tzst"
LDR_STR_TIMING = CORPUS / "instructions" / "memory" / "ldr_str_timing.tzst"
UMLAL_AGU = CORPUS / "instructions" / "memory" / "umlal_mla_str_reg_agu_deps.tzst"

pytestmark = pytest.mark.skipif(not MUL.exists(), reason="CMEmu corpus not beside the repository")


def configurations(path: Path) -> list[cmemu.Configuration]:
    return list(cmemu.read_test(path, CORPUS))


def mismatches(config: cmemu.Configuration) -> list[tuple[str, tuple | None]]:
    """Replay a configuration on its board: (array, first difference) of every array that is
    not byte-exact against the chip."""
    result = cmemu.run_configuration(config, cmemu.board_for(config))
    return [(a.name, a.first) for a in result.arrays if not a.matched]


def test_reader_gives_images_entry_exit_and_arrays():
    configs = configurations(MUL)
    assert len(configs) == 18
    first = configs[0]
    assert first.test == "instructions/data_processing/mul" and first.index == 0
    assert len(first.flash) == 352 * 1024
    assert first.code == "sram" and first.line_buffer
    assert first.flash[first.main : first.main + 2]  # emulator_main lies in the image
    assert {a.name for a in first.arrays} == {"results", "times", "flags"}
    assert cmemu.family(first.test) == "instructions/data_processing"


@pytest.mark.parametrize("index", range(18))
def test_mul_matches_the_chip_in_every_placement(index):
    """mul.tzst: chains of 0..19 MUL.W / MULS.N from SRAM (one word per 2 cycles: 2n + 2),
    from flash with the VIMS line buffer off (3 cycles per word) and on (16-bit code at core
    speed, 32-bit code 2 more per new line): every array byte-exact against the chip."""
    config = configurations(MUL)[index]
    result = cmemu.run_configuration(config, cmemu.board_for(config))
    assert result.error is None
    assert [(a.name, a.differing) for a in result.arrays if not a.matched] == []


@pytest.mark.parametrize("index", [0, 3, 6, 9])
def test_b_seq_from_sram_matches_the_chip(index):
    """b_seq.tzst, code in SRAM: taken `b.n` costs 4, or 6 to an unaligned 32-bit target
    (M4-MEM-BUS refill); cycle counts and CPICNT/LSUCNT byte-exact."""
    config = configurations(B_SEQ)[index]
    assert config.code == "sram"
    assert mismatches(config) == []


@pytest.mark.parametrize(("test", "index"), [(LDRD, 0), (LDRD, 1), (WRITES, 0)])
def test_data_accesses_share_the_system_bus_with_sram_code(test, index):
    """M4-MEM-BUS, code and data in SRAM, write buffer off (the measurements, CMEmu-HW): a run
    of `ldrd.w r5, r6, [r7, #k]` costs 4 per LDRD (3 of its own + 1 waiting for the code read
    that took the bus), 6 for the first after `ldr.w r2, [CYCCNT]`; a run of
    `str.w r5, [r7, #k]` costs 3 per store (unbuffered: 2, + 1 for the code read); CYCCNT,
    CPICNT and LSUCNT byte-exact (the wait is LSU)."""
    config = configurations(test)[index]
    assert config.code == "sram"
    assert mismatches(config) == []


def chip_and_cmsim(test: Path, index: int, array: str) -> tuple[list[int], list[int]]:
    """One array of one configuration: as the chip dumped it, and as cmsim computes it."""
    config = configurations(test)[index]
    dumped = next(a for a in config.arrays if a.name == array)
    machine, error = cmemu.replay(config, cmemu.board_for(config))
    assert error is None
    return words(dumped.content), words(cmemu.simulated(machine, dumped))


def words(raw: bytes) -> list[int]:
    """Little-endian 32-bit words, as the chip's arrays hold them."""
    return [int.from_bytes(raw[k : k + 4], "little") for k in range(0, len(raw), 4)]


def chip_words(config: cmemu.Configuration, array: str) -> list[int]:
    """One array of one configuration as the chip dumped it (no replay)."""
    return words(next(a.content for a in config.arrays if a.name == array))


@pytest.mark.parametrize(("index", "first"), [(1, [2, 8, 10, 14]), (2, [2, 8, 14, 20])])
def test_data_reads_from_flash_pass_the_vims_line_buffer(index, first):
    """ldr_dwt_mem.tzst, code in SRAM, n pairs `ldr.w r1, [DWT]; ldr.w r4, [flash]`: a data
    read from flash costs a line fill (+2) unless its line is in the VIMS line buffer. With
    the buffer on (#1) only the very first read pays (2, 8, then 4 per pair: the buffered line
    survives from one run to the next), with it off (#2) every read (6 per pair)."""
    chip, ours = chip_and_cmsim(LDR_DWT_MEM, index, "times")
    assert chip[:4] == first
    assert ours == chip


def test_code_reads_over_the_system_bus_are_registered():
    """ldr_dwt_mem.tzst #0, code and data in SRAM, n pairs `ldr.w r1, [DWT]; ldr.w r4, [SRAM]`:
    2, 6, 10, 14... (4 per pair from the first): the SRAM load never waits for a code read,
    because a code read reaches the SRAM a cycle after the fetch unit starts it (CYCCNT and
    LSUCNT byte-exact; the `ldr.n` half, 5 per pair on the chip, is a known difference)."""
    chip, ours = chip_and_cmsim(LDR_DWT_MEM, 0, "times")
    assert chip[:4] == [2, 6, 10, 14]
    assert ours[:20] == chip[:20]
    chip, ours = chip_and_cmsim(LDR_DWT_MEM, 0, "lsucnts")
    assert ours[:20] == chip[:20]


@pytest.mark.parametrize("index", [5, 6])
def test_unbuffered_stores_after_an_isb_share_the_bus_with_code_reads(index):
    """str.tzst #5/#6, code and data in SRAM, write buffer off, `isb; ldr.w [CYCCNT];
    [adds.n;] n x str.w r5, [r6, r7]; ldr.w [CYCCNT]`: 3 cycles per store from the first one
    (2 of its own; in a run each store's write keeps the bus a cycle, so the code read that
    wants it goes a cycle later and meets the next store's address phase); CYCCNT byte-exact."""
    chip, ours = chip_and_cmsim(STR, index, "times")
    assert ours == chip
    assert [b - a for a, b in zip(chip[:15], chip[1:16], strict=True)] == [3] * 15



def test_code_reads_follow_the_prefetch_queue():
    """ldr_ldm_ldmdb_ldrd_deps.tzst #0, code and data in SRAM, `isb; ldr.w [CYCCNT]; add.w;
    n x (ldr.n r5, [r7]; adds.n); add.w; ldr.w [CYCCNT]`: 8, 8, 11, 12, 15, 16 (M4-MEM-BUS,
    registered code reads). The fetch unit asks for a word a cycle before the instruction
    freeing its queue place issues, except while a load executes; a load whose address phase
    meets a code read waits. With `adds.n r7` (the load's base) the AGU stall hides in the
    fetch wait: the same counts (M4-LS-AGU). The first 24 cases (LDR, LDR.W, writeback forms)
    are byte-exact."""
    chip, ours = chip_and_cmsim(LDR_DEPS, 0, "times")
    assert chip[:6] == [8, 8, 11, 12, 15, 16]
    assert chip[12:18] == chip[:6]  # case 2: `adds.n r7, r2` feeds the next load's address
    assert ours[: 24 * 6] == chip[: 24 * 6]


@pytest.mark.parametrize("index", [0, 1])
def test_a_beat_denied_after_an_agu_stall_leaves_a_gap(index):
    """ldr_ldm_ldmdb_ldrd_deps.tzst #0/#1, code and data in SRAM: `n x (ldrd.w r4, r5, [r6, #8]!;
    adds.n; movs.n r6, r5)` measures 9, 10, 11, 17, 18, 19. The second LDRD waits a cycle for
    its base (M4-LS-AGU), a code read takes its first beat's cycle, and its second beat comes a
    cycle after the first one's (M4-MEM-BUS: 6 cycles, not 5). The LDM.N, LDM.W and LDMDB
    writeback forms time alike. Every array of both configurations is byte-exact."""
    config = configurations(LDR_DEPS)[index]
    first_failing_case = {0: 28, 1: 3}[index]  # before the gap: LDRD, LDM.N writeback forms
    start = 6 * first_failing_case  # six repetitions per case
    chip = chip_words(config, "times")[start : start + 6]
    assert chip == [9, 10, 11 + index, 17, 18, 19]
    assert mismatches(config) == []


@pytest.mark.parametrize("index", [0, 4])
def test_an_ldm_of_its_own_base_is_no_ldr_and_loads_its_next_address_late(index):
    """ldm_narrow.tzst #0 (code and data in SRAM) and #4 (code in flash, no line buffer): an
    `ldm.n r5, {r5}` is no single LDR (M4-LS-LDM1: alternating with `ldm.n r6, {r6}` it costs
    2 each, unpaired), and an access whose address an LDM loaded waits a cycle (M4-LS-AGU:
    `ldm.n r5, {r5}` chains measure 8, 10, 13, 16... in SRAM, 3 each). Every array is
    byte-exact."""
    config = configurations(LDM_NARROW)[index]
    chains = chip_words(config, "times")[8:16]  # case 1, eight repetitions
    if index == 0:
        assert chains == [8, 10, 13, 16, 19, 22, 25, 28]
    assert mismatches(config) == []


def test_an_address_loaded_by_a_writeback_load_comes_late():
    """ldr_ldm_ldmdb_ldrd_deps.tzst #13, code in flash, data in SRAM: `n x (ldr.w r5, [r7, #8]!;
    ldr.n r3, [r5]; movs.n r7, r5)` measures 7, 10, 11, 13, 17, 17; the load after the
    writeback load costs 3, not 2 (M4-LS-AGU, loaded_address_stall)."""
    chip, ours = chip_and_cmsim(LDR_DEPS, 13, "times")
    case = slice(33 * 6, 34 * 6)  # the case's six repetitions
    assert chip[case] == [7, 10, 11, 13, 17, 17]
    assert ours[case] == chip[case]


def test_a_code_read_started_late_still_meets_the_data_accesses_before_it():
    """ldr_str_timing.tzst #0, code and data in SRAM, write buffer off: `n x (ldr.w r0, [r5];
    str.w r1, [r6])` measures 2, 7, 12, 17... (5 per pair from the first). The fetch unit starts
    its reads lazily, sometimes in cycles already passed; the stores' bus cycles before then
    must still keep those reads off the bus (M4-MEM-BUS). Every array is byte-exact."""
    config = configurations(LDR_STR_TIMING)[0]
    wide = chip_words(config, "times")[16:20]  # case 1 (`.w`), its first repetitions
    assert wide == [2, 7, 12, 17]
    assert mismatches(config) == []


def test_no_early_code_read_while_a_divide_executes():
    """umlal_mla_str_reg_agu_deps.tzst #4, code and data in SRAM: an instruction of x cycles
    (the template's `n_x_cycles`, a `udiv` for the long ones), `mla.w`, `ldr.n r6, [r5, #4]`
    measures 8, 8, 8, 8, 11, 12 for x = 1..6. The fetch unit does not ask ahead for the word
    after the `mla.w` while the divide runs (its end is not known in advance, as with a load),
    so after a long divide that read meets the load (M4-MEM-BUS). `times` is byte-exact."""
    chip, ours = chip_and_cmsim(UMLAL_AGU, 4, "times")
    assert chip[:6] == [8, 8, 8, 8, 11, 12]
    assert ours == chip


@pytest.mark.parametrize("index", [7, 9])
def test_a_load_reads_the_dwt_after_waiting_for_its_address_register(index):
    """str.tzst #7/#9, code and data in SRAM: `ldr.w r2, [r0, r1]; k x adds.n r1, r7;
    ldr.w r3, [r0, r1]` with no store between measures 5 (k = 2) or 7 (k = 4) cycles and
    CPICNT 1: the second load waits in decode for r1 (M4-LS-AGU, a CPI event) and reads the
    counters after that wait, not at its issue. Every array byte-exact (16 stores at most)."""
    config = configurations(STR)[index]
    chip = chip_words(config, "times")
    assert (chip[0], chip[16]) == (5 + index - 7, 1)
    assert not mismatches(config)


def test_a_nop_fetched_after_the_loads_data_phase_is_not_absorbed():
    """umlal_mla_str_reg_agu_deps.tzst #4, code in SRAM: `ldr.n r6, [r5, #4]; nop.w;
    ldr.w r3, [DWT]` with the `nop.w` across two words reads CPICNT 3 and LSUCNT 2 after a
    1-cycle instruction: the NOP's second word comes after the load's data phase, so the NOP
    is not absorbed and the fetch stall after it is CPI (M4-LS-ABS). Every array byte-exact."""
    config = configurations(UMLAL_AGU)[4]
    assert chip_words(config, "cpicnts")[12] == 3 and chip_words(config, "lsucnts")[12] == 2
    assert not mismatches(config)


@pytest.mark.parametrize(("index", "first"), [(33, [2, 6, 10, 14]), (23, [2, 10, 12, 20])])
def test_a_bx_takes_the_read_of_its_target_under_way(index, first):
    """bx_seq.tzst #33/#23, code in SRAM: chained `bx.n` to the word after next (three or two
    filler halfwords between) cost 4 each, or 8 and 2 alternating: the target's word is the
    read the fetch unit has under way as the branch resolves, and the branch takes it instead
    of reading it again (M4-MEM-BUS). `times` byte-exact."""
    chip, ours = chip_and_cmsim(BX_SEQ, index, "times")
    assert chip[:4] == first
    assert ours == chip


@pytest.mark.parametrize(
    ("index", "first"), [(2, [2, 6, 14, 18]), (14, [2, 8, 14, 20]), (24, [2, 6, 14, 16])]
)
def test_a_bx_held_in_decode_asks_for_its_target_early(index, first):
    """bx_seq.tzst #2/#14/#24, code in SRAM, padded by one halfword: `ldr.w r2, [CYCCNT]` spans
    two words and the first `bx.n` sits in the second halfword of its last word, so it waited in
    decode through the load's two cycles; it asks for its target as it issues, a cycle sooner
    than an execute-time branch does: one `bx.n` measures 6, 8, 6 (cmsim gave 8, 10, 8 when it
    asked a cycle later) (M4-MEM-BUS). `times` byte-exact."""
    chip, ours = chip_and_cmsim(BX_SEQ, index, "times")
    assert chip[:4] == first
    assert ours == chip


def test_a_wide_ldm_without_writeback_forwards_its_last_register_in_time():
    """ldr_ldm_ldmdb_ldrd_deps.tzst #3 (part 3), code and data in SRAM: `ldm.w r5, {r4, r5}` and
    `ldr.n r3, [r5]` alternating measure 9, 11, 15, 17, 21, 23 (the load 2, as after
    `ldm.w r5, {r4, r5}; ldr.n r3, [r4]`), while `ldm.w r5!, {r6, r7}; ldr.n r3, [r7]` pays a
    cycle (9, 12): only a writeback or a 16-bit LDM delivers its last register late
    (M4-LS-AGU). Every array byte-exact."""
    config = configurations(LDR_DEPS)[3]
    times = chip_words(config, "times")
    assert times[6 * 11 : 6 * 11 + 6] == [9, 11, 15, 17, 21, 23]
    assert times[6 * 20 : 6 * 20 + 2] == [9, 12]
    assert mismatches(config) == []


def test_a_branch_drops_the_read_of_its_target_in_its_data_phase():
    """cbz_after_ldr.tzst #0, code and data in SRAM: `ldr.w r6, [r7]; nop.n; cbz.n r5` taken
    over one `nop.w` measures 10: the old stream's read of the target's word was on the bus
    as the `cbz.n` issued, so it is dropped and the target read again (M4-MEM-BUS). Every
    array byte-exact."""
    config = configurations(CBZ_AFTER_LDR)[0]
    assert chip_words(config, "times")[4:8] == [12, 8, 10, 12]
    assert not mismatches(config)


def test_a_condition_failed_store_waiting_for_its_code_is_cpi():
    """umlal_mla_str_reg_agu_deps.tzst #6, code in SRAM, inside `itet.n eq`: a 1-cycle
    instruction, a condition-failed `strne.w r5, [r5, r8]` that waits a cycle for its second
    halfword, `ldreq.n r6, [r5, #4]`: CPICNT 1, LSUCNT 2. A skipped store is no memory access,
    so its fetch stall is CPI, not LSU (M4-DWT-2). Every array byte-exact."""
    config = configurations(UMLAL_AGU)[6]
    assert (chip_words(config, "cpicnts")[192], chip_words(config, "lsucnts")[192]) == (1, 2)
    assert not mismatches(config)


def test_a_flash_load_overlaps_the_sram_store_after_it():
    """ldr_str_timing.tzst #1, code in SRAM, `ldr.n r0, [r5]` from flash (line buffer off) and
    `str.n r1, [r6]` to SRAM, write buffer off: n pairs between CYCCNT reads measure 2, 8, 14,
    20...: the store on the System bus overlaps the load's data phase on the D-Code bus although
    their blocks differ (M4-MEM-BLOCK). Every array byte-exact."""
    config = configurations(LDR_STR_TIMING)[1]
    assert chip_words(config, "times")[:4] == [2, 8, 14, 20]
    assert not mismatches(config)


@pytest.mark.parametrize("index", [0, 4])
def test_unbuffered_immediate_stores_take_a_second_cycle(index):
    """strb_strh.tzst #0/#4, code and data in SRAM, write buffer off, `isb; ldr.w [CYCCNT];
    n x strb.w/strh.w r5, [r6, #k]; ldr.w [CYCCNT]`: 5, 8, 11... (a lone store 3, as with a
    register offset in str.tzst), every value byte-exact (M4-LS-WB)."""
    chip, ours = chip_and_cmsim(STRB_STRH, index, "times")
    assert chip[:3] == [5, 8, 11]
    assert ours == chip


@pytest.mark.parametrize(("index", "narrow"), [(0, True), (2, False)])
def test_unbuffered_immediate_stores_pipeline_when_queued(index, narrow):
    """str_imm.tzst #0 (`str.n r5, [r6, #k]`) and #2 (`str.w`), code and data in SRAM, write
    buffer off, n stores between CYCCNT reads: narrow 2, 5, 8, 10, 12... (3, 3, then 2 per store:
    the next store's code is queued, it pipelines and frees the bus for a code read), wide 2, 5,
    8, 11... (each word arrives as its store issues: no pipelining). Byte-exact (M4-LS-WB)."""
    chip, ours = chip_and_cmsim(STR_IMM, index, "times")
    assert chip[:6] == ([2, 5, 8, 10, 12, 14] if narrow else [2, 5, 8, 11, 14, 17])
    assert ours == chip


@pytest.mark.parametrize(("index", "cycles"), [(0, 5), (1, 8), (2, 4), (3, 7)])
def test_bit_band_accesses_reach_the_memory_a_cycle_late(index, cycles):
    """bitbanding/ldr_str.tzst (M4-MEM-BB): `ldr.n [CYCCNT]; ldr.w/str.w [bit-band alias];
    ldr.n [CYCCNT]` measures 5/8 with the code in SRAM, 4/7 in flash: from SRAM the code read
    that starts with the bit-band access reaches the SRAM first and the access waits one."""
    chip, ours = chip_and_cmsim(BITBAND_LDR_STR, index, "times")
    assert ours == chip
    assert set(chip) == {cycles}


@pytest.mark.parametrize("index", [3, 34])
def test_bx_seq_from_flash_keeps_the_buffered_line(index):
    """bx_seq.tzst, code in flash behind the VIMS line buffer: a line fill of the old stream
    that would start as the branch resolves is dropped, so a target in the buffered line
    reads its words at 1 cycle each (M4-MEM-BUS refill): `times` byte-exact (3, 9, 15, 13,
    15, 23 and 3, 6, 11, 14, 19, 22 cycles measured)."""
    config = configurations(BX_SEQ)[index]
    assert config.code == "flash" and config.line_buffer
    assert mismatches(config) == []


@pytest.mark.parametrize("index", [0, 3, 6])
def test_it_folds_only_when_fetched_beside_its_predecessor(index):
    """it_and_blx_bx_mov_pc_lr.tzst (M4-IT-FOLD with word-by-word fetch): blocks of
    `movs.n; it.n eq; blxeq.n lr` (or `bxeq.n lr`) reached by a taken branch; the IT folds
    only when it sits in the word of the `movs.n` (FOLDCNT 0, 1, 1, 2, 2... over 1..10
    blocks, measured), as the fetch is behind after the branch: from SRAM, `times` 14, 26,
    36, 48... and FOLDCNT byte-exact; from flash with the line buffer off, FOLDCNT."""
    config = configurations(IT_BX)[index]
    result = cmemu.run_configuration(config, cmemu.board_for(config))
    arrays = {a.name: a for a in result.arrays}
    assert arrays["foldcnts"].matched
    if config.code == "sram":
        assert arrays["times"].matched


@pytest.mark.parametrize(("test", "index"), [(IT_BX, 1), (IT_BX, 5), (IT_SKIP, 0), (IT_SKIP, 2)])
def test_not_taken_decode_time_branches_read_their_target(test, index):
    """M4-MEM-BUS: a decode-time conditional branch that is not taken (`bxne.n lr` skipped
    in an IT block, `bne.n`, `cbnz.n` excluded: execute-time) had the fetch unit read its
    target word while decoded; the word is dropped but the read held the bus: from SRAM
    (it_and_blx_bx_mov_pc_lr: 20, 38, 54, 72... cycles over 1..10 blocks, 2 more per block
    than the code's own words) and from flash with the line buffer off (27, 54, 75, 102...):
    `times` byte-exact."""
    config = configurations(test)[index]
    assert not config.line_buffer or config.code == "sram"
    result = cmemu.run_configuration(config, cmemu.board_for(config))
    assert {a.name: a for a in result.arrays}["times"].matched


@pytest.mark.parametrize(("test", "index"), [(LDR_PC, 1), (LDR_PC, 4), (POP_PC, 2)])
def test_loads_to_pc_count_as_lsu(test, index):
    """M4-DWT-2 on the chip: `ldr.w pc, [...]` and `pop {..., pc}` count every cycle beyond
    the first, the refill and the fetch wait included, in LSUCNT; CPICNT stays 0
    (ldr_pc: code in SRAM, 10 cycles, LSUCNT 8; pop_pc from flash with the line buffer:
    9..14 cycles, LSUCNT 7..12): every array byte-exact."""
    config = configurations(test)[index]
    assert mismatches(config) == []


def test_a_load_to_pc_asks_for_no_more_code_once_issued():
    """pop_pc.tzst #0, code in SRAM: `isb; ldr.w [CYCCNT]; pop {..., pc}` to an aligned target
    measures 8, 10, 10, 10, 11, 11, 11, 12, 13, 14 for 1..6 registers, narrow or wide alike:
    `pop.w {r0, r8, pc}` costs as `pop.n {r0, r1, pc}`. After the pop issues the fetch unit asks
    for no more words, so only the read asked as it issued takes a beat's cycle (M4-MEM-BUS).
    Every array byte-exact."""
    config = configurations(POP_PC)[0]
    assert chip_words(config, "times")[:10] == [8, 10, 10, 10, 11, 11, 11, 12, 13, 14]
    assert mismatches(config) == []


@pytest.mark.parametrize("index", [5, 11, 14, 17, 38, 41])
def test_b_seq_from_flash_reads_the_target_early_after_a_held_branch(index):
    """b_seq.tzst, code in flash behind the VIMS line buffer: the first `b.n`/`b.w` after
    `ldr.w r2, [CYCCNT]` sat in decode while the load took its two cycles, so the fetch unit
    asked for its target a cycle sooner, dropping the sequential line fill (CMEmu-HW `times` for
    one branch: 4 to the same line, 5 to the next line's first word, 6 to a 32-bit target at its
    2nd halfword); `times`, CPICNT and LSUCNT byte-exact."""
    config = configurations(B_SEQ)[index]
    assert config.code == "flash" and config.line_buffer
    assert mismatches(config) == []


@pytest.mark.parametrize(("test", "index"), [(CBZ_DEPS, 8), (IT_SKIP, 0), (IT_SKIP, 2)])
def test_an_absorbed_nop_is_no_fold(test, index):
    """M4-DWT-2 on the chip: a NOP absorbed into a load's data phase (M4-LS-ABS) leaves
    FOLDCNT alone and takes the load's data-phase cycle back from LSUCNT (cbz_deps, flash
    with the line buffer: `ldr.w r5, [r1]; nop.n; cbz.n` LSUCNT 0, FOLDCNT 0;
    it_fold_after_skipped_branch: FOLDCNT 0 over `ldr.w r3, [FOLDCNT]; nop.w...`): every
    array byte-exact."""
    config = configurations(test)[index]
    assert mismatches(config) == []


def test_mla_b_from_flash_reads_the_target_as_the_branch_resolves():
    """mla_mls_b.tzst, code in flash with the line buffer: `b.w` after a one-cycle `mla.w` was
    in decode for one cycle only, so its target's line fill starts as it resolves (CMEmu-HW:
    21 cycles both for MLA and MLS)."""
    config = configurations(MLA_B)[1]
    assert config.code == "flash" and config.line_buffer
    assert mismatches(config) == []


def test_line_buffer_follows_the_template_directive():
    """Some templates fix `device:line_buffer_enabled = False` whatever the configuration says
    (udiv.asm, str.asm); others name the setting (`= lbEn`)."""
    assert [c.line_buffer for c in configurations(B_SEQ)[:3]] == [True, False, True]
    flash = [c for c in configurations(STR) if c.code == "flash"]
    assert flash and not any(c.line_buffer for c in flash)
    assert cmemu.board_for(flash[0]).name == "cc2652-nolb"


@pytest.mark.parametrize("index", [5, 9])
def test_udiv_from_flash_without_the_line_buffer_matches_the_chip(index):
    """udiv.tzst turns the line buffer off in its template: from flash at 3 cycles a word, every
    `times` word byte-exact (CMEmu-HW)."""
    config = configurations(UDIV)[index]
    assert config.code == "flash" and not config.line_buffer
    assert mismatches(config) == []


@pytest.mark.parametrize("test", [MUL, B_SEQ, LDRD, IT_BX])
def test_fast_path_equals_reference_path_on_the_chip_images(test):
    """The CC2652 images copy their measured code to SRAM at run time (finding 1 of issue 13)
    and stream it through the word-fetch model: both engine paths must read the same arrays."""
    for config in configurations(test)[:6]:
        board = cmemu.board_for(config)
        fast = cmemu.run_configuration(config, board, "fast")
        ref = cmemu.run_configuration(config, board, "reference")
        assert fast.arrays == ref.arrays, config.name


def test_summary_rows_and_array_differences():
    results = [cmemu.run_configuration(c, cmemu.board_for(c)) for c in configurations(MUL)[:3]]
    rows = {(r.family, r.code): r for r in cmemu.summarize(results)}
    assert rows[("all", "sram")].configs == 1
    assert rows[("all", "flash lb")].configs == 1
    assert rows[("all", "flash no-lb")].cycles == 1
    arrays = {e["array"]: e for e in cmemu.array_differences(results)}
    assert arrays["times"]["configs"] == 3 and arrays["times"]["kind"] == "cycles"
    report = cmemu.report(results)
    assert len(report["configurations"]) == 3


def test_filters():
    assert cmemu.parse_filters(["code=sram", "lbEn=False"]) == {"code": "sram", "lbEn": "False"}
    with pytest.raises(CmsimError, match="KEY=VALUE"):
        cmemu.parse_filters(["code"])
    configs = configurations(MUL)
    assert [c.index for c in configs if cmemu.selected(c, {"code": "sram"})] == [0, 3, 6, 9, 12, 15]


def test_cli_validate_prints_rates_and_writes_json(tmp_path, capsys):
    folder = tmp_path / "corpus" / "instructions" / "data_processing"
    folder.mkdir(parents=True)
    shutil.copy(MUL, folder)
    out = tmp_path / "report.json"
    code = main(
        ["validate", "cmemu", str(tmp_path / "corpus"), "--filter", "code=sram", "--json", str(out)]
    )
    assert code == 0
    printed = capsys.readouterr().out
    assert "instructions/data_processing" in printed and "6/6 100.0%" in printed
    report = json.loads(out.read_text())
    assert {row["code"] for row in report["summary"]} == {"sram"}


def test_cli_validate_bad_input(tmp_path, capsys):
    assert main(["validate", "cmemu", str(tmp_path / "missing")]) == 2
    assert "not a folder" in capsys.readouterr().err
    assert main(["validate", "cmemu", str(tmp_path)]) == 2
    assert "no CMEmu dumps" in capsys.readouterr().err
    assert main(["validate", "cmemu", str(CORPUS), "--filter", "code"]) == 2
    (tmp_path / "broken.tzst").write_bytes(b"not zstd")
    assert main(["validate", "cmemu", str(tmp_path)]) == 2
    assert "not a CMEmu dump archive" in capsys.readouterr().err
