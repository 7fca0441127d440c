/**
 * @keyshard/express is scaffolded but not implemented yet: the adapter lands after the core contract holds on a
 * real cluster. Until then this entry point only identifies the package.
 */
export const packageName = '@keyshard/express'
