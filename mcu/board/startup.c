/* Start-up code for QEMU mps2-an386: vector table, reset handler, faults. */
#include <stdint.h>
#include <string.h>

#include "semihost.h"

extern uint32_t __data_load, __data_start, __data_end, __bss_start, __bss_end;
extern uint32_t __stack_top, __stack_limit;
extern void (*__init_array_start[])(void);
extern void (*__init_array_end[])(void);

int main(void);
void Reset_Handler(void);
void SysTick_Handler(void);
void UART0_RX_Handler(void);

#define STACK_PAINT 0xA5A5A5A5u

static void fault(const char *what)
{
    sh_write0(what);
    sh_exit(99);
}

static void HardFault_Handler(void) { fault("HardFault\n"); }
static void MemManage_Handler(void) { fault("MemManage fault\n"); }
static void BusFault_Handler(void) { fault("BusFault\n"); }
static void UsageFault_Handler(void) { fault("UsageFault\n"); }
static void Default_Handler(void) { fault("unexpected interrupt\n"); }

__attribute__((section(".vectors"), used)) static void (*const vectors[16 + 16])(void) = {
    (void (*)(void))&__stack_top,
    Reset_Handler,
    Default_Handler,   /* NMI */
    HardFault_Handler,
    MemManage_Handler,
    BusFault_Handler,
    UsageFault_Handler,
    0, 0, 0, 0,
    Default_Handler,   /* SVC */
    Default_Handler,   /* DebugMon */
    0,
    Default_Handler,   /* PendSV */
    SysTick_Handler,
    UART0_RX_Handler,  /* IRQ 0: UART0 RX */
    Default_Handler, Default_Handler, Default_Handler, Default_Handler, Default_Handler,
    Default_Handler, Default_Handler, Default_Handler, Default_Handler, Default_Handler,
    Default_Handler, Default_Handler, Default_Handler, Default_Handler, Default_Handler,
};

uint32_t mcu_stack_size(void)
{
    return (uint32_t)((uintptr_t)&__stack_top - (uintptr_t)&__stack_limit);
}

uint32_t mcu_stack_unused(void)
{
    const uint32_t *p = &__stack_limit;
    while (p < &__stack_top && *p == STACK_PAINT) {
        p++;
    }
    return (uint32_t)((uintptr_t)p - (uintptr_t)&__stack_limit);
}

void Reset_Handler(void)
{
    /* The FPU (CP10, CP11) before any floating-point instruction. */
    volatile uint32_t *cpacr = (volatile uint32_t *)0xE000ED88u;
    *cpacr |= 0xFu << 20;
    __asm__ volatile("dsb\n isb" ::: "memory");

    memcpy(&__data_start, &__data_load, (size_t)((uintptr_t)&__data_end - (uintptr_t)&__data_start));
    memset(&__bss_start, 0, (size_t)((uintptr_t)&__bss_end - (uintptr_t)&__bss_start));

    /* Paint the stack below this frame for the high-water mark. */
    uint32_t *sp;
    __asm__ volatile("mov %0, sp" : "=r"(sp));
    for (uint32_t *p = &__stack_limit; p < sp - 16; p++) {
        *p = STACK_PAINT;
    }

    for (void (**f)(void) = __init_array_start; f < __init_array_end; f++) {
        (*f)();
    }
    sh_exit(main());
}

/* Rust objects carry EHABI unwind-table entries that name the personality
 * routines even with panic = "abort"; nothing ever unwinds here, so these
 * stand in for libgcc's (which would pull in the whole unwinder). */
void __aeabi_unwind_cpp_pr0(void);
void __aeabi_unwind_cpp_pr1(void);
void __aeabi_unwind_cpp_pr2(void);
void __aeabi_unwind_cpp_pr0(void) { fault("unwinding is not supported\n"); }
void __aeabi_unwind_cpp_pr1(void) { fault("unwinding is not supported\n"); }
void __aeabi_unwind_cpp_pr2(void) { fault("unwinding is not supported\n"); }
