/** The oomkill request fields of its own: none (maxEvents is shared, common/job-fields.ts). */
export class OomkillFields {}
