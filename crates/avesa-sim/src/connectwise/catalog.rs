//! Fixed reference data of a simulated ConnectWise instance: boards and their statuses,
//! priorities, work roles and types, and the word lists the generator draws names from.

/// Base of the `_info.*_href` links inside records. Links are data, never followed by
/// clients, so they are the same for every company and every listening address.
pub const HREF_BASE: &str = "https://api-na.myconnectwise.net/v4_6_release/apis/3.0";

pub struct Board {
    pub id: i64,
    pub name: &'static str,
    /// Relative share of tickets.
    pub weight: f64,
    /// Relative number of time entries per ticket.
    pub effort: f64,
    pub team: (i64, &'static str),
    /// Status names in workflow order; ids are `status_base + index`.
    pub statuses: &'static [&'static str],
    pub status_base: i64,
    /// Ticket types; ids are `type_base + index`.
    pub types: &'static [&'static str],
    pub type_base: i64,
    pub summaries: &'static [&'static str],
}

pub const STATUS_NEW: &str = "New";
pub const STATUS_IN_PROGRESS: &str = "In Progress";
pub const STATUS_WAITING: &str = "Waiting Customer";
pub const STATUS_SCHEDULED: &str = "Scheduled";
pub const STATUS_COMPLETED: &str = "Completed";
pub const STATUS_CLOSED: &str = "Closed";

pub fn is_closed_status(name: &str) -> bool {
    name == STATUS_COMPLETED || name == STATUS_CLOSED
}

const FULL_WORKFLOW: &[&str] = &[
    STATUS_NEW,
    STATUS_IN_PROGRESS,
    STATUS_WAITING,
    STATUS_SCHEDULED,
    STATUS_COMPLETED,
    STATUS_CLOSED,
];
const SCHEDULED_WORKFLOW: &[&str] = &[
    STATUS_NEW,
    STATUS_SCHEDULED,
    STATUS_IN_PROGRESS,
    STATUS_WAITING,
    STATUS_COMPLETED,
    STATUS_CLOSED,
];

pub const BOARDS: [Board; 5] = [
    Board {
        id: 1,
        name: "Help Desk",
        weight: 0.45,
        effort: 1.0,
        team: (21, "Tier 1 Support"),
        statuses: FULL_WORKFLOW,
        status_base: 101,
        types: &["Incident", "Service Request", "Problem", "Question"],
        type_base: 201,
        summaries: &[
            "Outlook not syncing email",
            "Printer offline in {dept}",
            "Password reset for {person}",
            "New user setup: {person}",
            "User termination: {person}",
            "Cannot access shared drive",
            "VPN connection drops intermittently",
            "Laptop running slow",
            "Install {app} on workstation",
            "Teams audio not working",
            "MFA enrollment help for {person}",
            "Email bounce-backs to external domain",
            "Scanner not sending to email",
            "Monitor flickering at {dept}",
            "{app} will not open",
            "OneDrive sync errors",
            "Locked out of account",
            "Request: new laptop for {person}",
        ],
    },
    Board {
        id: 3,
        name: "Network Operations",
        weight: 0.15,
        effort: 1.4,
        team: (22, "Network Engineering"),
        statuses: FULL_WORKFLOW,
        status_base: 111,
        types: &["Incident", "Change Request", "Maintenance"],
        type_base: 211,
        summaries: &[
            "Firewall firmware upgrade",
            "Site-to-site VPN down",
            "Switch port configuration for {dept}",
            "Wi-Fi coverage issue in {dept}",
            "ISP outage at main office",
            "DNS resolution failures",
            "Certificate renewal for {host}",
            "Patch server {host}",
            "Replace failing UPS battery",
            "Backup job review",
        ],
    },
    Board {
        id: 4,
        name: "Projects",
        weight: 0.08,
        effort: 4.0,
        team: (23, "Projects Team"),
        statuses: SCHEDULED_WORKFLOW,
        status_base: 121,
        types: &["Project Task", "Change Request", "Migration"],
        type_base: 221,
        summaries: &[
            "Microsoft 365 migration",
            "Server replacement - {host}",
            "Office move: network cabling",
            "Workstation refresh ({n} PCs)",
            "Firewall replacement",
            "Backup solution rollout",
            "Intune enrollment rollout",
            "Phone system migration",
        ],
    },
    Board {
        id: 7,
        name: "Onsite",
        weight: 0.12,
        effort: 1.8,
        team: (24, "Field Services"),
        statuses: SCHEDULED_WORKFLOW,
        status_base: 131,
        types: &["Onsite Visit", "Installation", "Hardware Repair"],
        type_base: 231,
        summaries: &[
            "Onsite: install new printer in {dept}",
            "Onsite: workstation deployment",
            "Onsite: network closet cleanup",
            "Onsite: conference room AV setup",
            "Onsite: replace switch",
            "Onsite: quarterly site visit",
        ],
    },
    Board {
        id: 9,
        name: "Alerts",
        weight: 0.20,
        effort: 0.25,
        team: (25, "NOC"),
        statuses: &[STATUS_NEW, STATUS_IN_PROGRESS, STATUS_COMPLETED, STATUS_CLOSED],
        status_base: 141,
        types: &["Alert", "Backup Failure", "Disk Space", "Offline Device"],
        type_base: 241,
        summaries: &[
            "Disk space low on {host}",
            "Backup failed on {host}",
            "Device offline: {host}",
            "High CPU on {host}",
            "Antivirus threat detected on {host}",
            "Windows update failed on {host}",
            "Service stopped: {svc} on {host}",
            "RAID degraded on {host}",
        ],
    },
];

pub const ALERTS_BOARD: usize = 4;
pub const ONSITE_BOARD: usize = 3;
pub const PROJECTS_BOARD: usize = 2;

/// (id, name, sort, share of tickets, respond-within minutes, resolve-within minutes)
pub const PRIORITIES: [(i64, &str, i64, f64, i64, i64); 4] = [
    (6, "Priority 1 - Emergency", 1, 0.03, 15, 4 * 60),
    (15, "Priority 2 - Quick Response", 2, 0.15, 60, 8 * 60),
    (8, "Priority 3 - Normal Response", 3, 0.62, 240, 3 * 24 * 60),
    (7, "Priority 4 - Schedule Maintenance", 4, 0.20, 480, 10 * 24 * 60),
];

/// (id, name, share; Alerts always come from Monitoring)
pub const SOURCES: [(i64, &str, f64); 4] =
    [(1, "Email", 0.45), (2, "Phone", 0.30), (3, "Portal", 0.20), (4, "Monitoring", 0.05)];
pub const SOURCE_MONITORING: usize = 3;

pub const LEVELS: [&str; 3] = ["Low", "Medium", "High"];

/// (id, name)
pub const SERVICE_LOCATIONS: [(i64, &str); 3] = [(1, "Remote"), (2, "On-Site"), (3, "In-house")];

/// (id, name, hourly rate)
pub const WORK_ROLES: [(i64, &str, f64); 6] = [
    (5, "Service Desk Technician", 95.0),
    (7, "Systems Engineer", 150.0),
    (9, "Network Engineer", 165.0),
    (12, "Senior Engineer", 185.0),
    (14, "Project Manager", 140.0),
    (16, "Field Technician", 115.0),
];

/// Member titles, by work role index.
pub const ROLE_TITLES: [&str; 6] = [
    "Service Desk Technician",
    "Systems Engineer",
    "Network Engineer",
    "Senior Systems Engineer",
    "Project Manager",
    "Field Technician",
];

/// Member security roles, by work role index: (id, name).
pub const ROLE_SECURITY: [(i64, &str); 6] = [
    (62, "Technician"),
    (62, "Technician"),
    (62, "Technician"),
    (64, "Service Manager"),
    (65, "Project Manager"),
    (62, "Technician"),
];

/// A member's default department (index into [`BOARD_DEPARTMENTS`]), by work role index.
pub const ROLE_DEPARTMENT: [u8; 6] = [0, 2, 1, 2, 2, 3];

/// The work role (index into [`WORK_ROLES`]) of the member who approves time and expenses.
pub const APPROVER_ROLE: u8 = 3;

/// The structure level every member sits at: (id, name).
pub const MEMBER_STRUCTURE: (i64, &str) = (1, "Corporate");

/// (id, name)
pub const WORK_TYPES: [(i64, &str); 6] = [
    (3, "Remote Support"),
    (4, "Onsite Support"),
    (5, "After Hours"),
    (6, "Project Labor"),
    (8, "Travel"),
    (9, "Alert Response"),
];

/// Time-entry billable options and their shares.
pub const BILLABLE: [(&str, f64); 4] =
    [("Billable", 0.70), ("DoNotBill", 0.15), ("NoCharge", 0.12), ("NoDefault", 0.03)];

/// Time-entry statuses used by the generator (a subset of ConnectWise's enumeration).
pub const ENTRY_STATUSES: [&str; 5] =
    ["Open", "PendingApproval", "ReadyToBill", "Billed", "ApprovedByTierTwo"];
pub const ENTRY_OPEN: u8 = 0;
pub const ENTRY_PENDING: u8 = 1;
pub const ENTRY_READY: u8 = 2;
pub const ENTRY_BILLED: u8 = 3;
pub const ENTRY_APPROVED: u8 = 4;

pub const ENTRY_NOTES: [&str; 12] = [
    "Reviewed ticket and contacted user to gather details.",
    "Remoted in and resolved the issue. Verified with the user.",
    "Troubleshot issue; escalated to Tier 2 with notes.",
    "Applied updates and rebooted. Monitoring for recurrence.",
    "Worked with vendor support on the issue.",
    "Onsite: replaced hardware and tested.",
    "Documented configuration changes in the client's runbook.",
    "Followed up with the customer; awaiting response.",
    "Cleared the alert after verifying service health.",
    "Project work per scope; see ticket notes.",
    "Configured new account, mailbox and licenses.",
    "Checked backups and verified restore points.",
];

/// Company statuses: (id, name).
pub const COMPANY_STATUSES: [(i64, &str); 2] = [(1, "Active"), (2, "Inactive")];
/// Company types: (id, name, share).
pub const COMPANY_TYPES: [(i64, &str, f64); 4] =
    [(1, "Client", 0.70), (5, "Prospect", 0.15), (3, "Vendor", 0.10), (4, "Partner", 0.05)];
pub const TYPE_CLIENT: u8 = 0;

/// (id, name)
pub const TERRITORIES: [(i64, &str); 4] =
    [(1, "East"), (2, "Central"), (3, "Mountain"), (4, "West")];

/// (city, state, zip prefix, territory index)
pub const CITIES: [(&str, &str, u32, usize); 30] = [
    ("Tampa", "FL", 336, 0),
    ("Orlando", "FL", 328, 0),
    ("Atlanta", "GA", 303, 0),
    ("Charlotte", "NC", 282, 0),
    ("Raleigh", "NC", 276, 0),
    ("Richmond", "VA", 232, 0),
    ("Philadelphia", "PA", 191, 0),
    ("Pittsburgh", "PA", 152, 0),
    ("Boston", "MA", 21, 0),
    ("Hartford", "CT", 61, 0),
    ("Albany", "NY", 122, 0),
    ("Columbus", "OH", 432, 1),
    ("Cleveland", "OH", 441, 1),
    ("Indianapolis", "IN", 462, 1),
    ("Chicago", "IL", 606, 1),
    ("Milwaukee", "WI", 532, 1),
    ("Minneapolis", "MN", 554, 1),
    ("Kansas City", "MO", 641, 1),
    ("Dallas", "TX", 752, 1),
    ("Austin", "TX", 787, 1),
    ("Houston", "TX", 770, 1),
    ("Nashville", "TN", 372, 1),
    ("Denver", "CO", 802, 2),
    ("Salt Lake City", "UT", 841, 2),
    ("Phoenix", "AZ", 850, 2),
    ("Boise", "ID", 837, 2),
    ("Portland", "OR", 972, 3),
    ("Seattle", "WA", 981, 3),
    ("Sacramento", "CA", 958, 3),
    ("San Diego", "CA", 921, 3),
];

pub const STREETS: [&str; 20] = [
    "Main St",
    "Oak Ave",
    "Maple Dr",
    "Commerce Blvd",
    "Park Ave",
    "Industrial Pkwy",
    "Washington St",
    "Lincoln Ave",
    "Market St",
    "Center St",
    "Elm St",
    "Cedar Ln",
    "Highland Ave",
    "Technology Dr",
    "Corporate Center Dr",
    "Broadway",
    "2nd St",
    "Lake Shore Dr",
    "Ridge Rd",
    "Airport Rd",
];

pub const COMPANY_PREFIXES: [&str; 48] = [
    "Acme",
    "Blue Ridge",
    "Summit",
    "Pinnacle",
    "Riverside",
    "Lakeside",
    "Northwind",
    "Cascade",
    "Evergreen",
    "Harbor",
    "Granite",
    "Redwood",
    "Silver Creek",
    "Ironwood",
    "Oak Hill",
    "Maple",
    "Frontier",
    "Keystone",
    "Liberty",
    "Sterling",
    "Crescent",
    "Horizon",
    "Meridian",
    "Prairie",
    "Coastal",
    "Valley",
    "Metro",
    "Heritage",
    "Beacon",
    "Sunrise",
    "Clearwater",
    "Stonebridge",
    "Highland",
    "Bayview",
    "Pioneer",
    "Union",
    "Capitol",
    "Magnolia",
    "Cypress",
    "Aspen",
    "Willow Creek",
    "Bright Path",
    "Red Rock",
    "Twin Rivers",
    "Falcon",
    "Lighthouse",
    "Trinity",
    "Cornerstone",
];

/// (industry word, market id, market name)
pub const INDUSTRIES: [(&str, i64, &str); 22] = [
    ("Dental", 1, "Healthcare"),
    ("Family Medicine", 1, "Healthcare"),
    ("Veterinary Clinic", 1, "Healthcare"),
    ("Orthopedics", 1, "Healthcare"),
    ("Law Group", 2, "Legal"),
    ("Legal Associates", 2, "Legal"),
    ("Accounting", 3, "Professional Services"),
    ("Engineering", 3, "Professional Services"),
    ("Architects", 3, "Professional Services"),
    ("CPA Partners", 4, "Financial Services"),
    ("Credit Union", 4, "Financial Services"),
    ("Insurance Agency", 4, "Financial Services"),
    ("Wealth Management", 4, "Financial Services"),
    ("Manufacturing", 5, "Manufacturing"),
    ("Fabrication", 5, "Manufacturing"),
    ("Logistics", 6, "Transportation"),
    ("Construction", 7, "Construction"),
    ("Realty", 8, "Real Estate"),
    ("Auto Group", 9, "Retail"),
    ("Foods", 10, "Food & Beverage"),
    ("Hospitality", 11, "Hospitality"),
    ("Foundation", 12, "Non-Profit"),
];

pub const COMPANY_SUFFIXES: [&str; 8] =
    ["LLC", "Inc.", "Group", "", "Co.", "Partners", "Corp.", "Ltd."];

pub const FIRST_NAMES: [&str; 64] = [
    "James",
    "Mary",
    "Robert",
    "Patricia",
    "John",
    "Jennifer",
    "Michael",
    "Linda",
    "David",
    "Elizabeth",
    "William",
    "Barbara",
    "Richard",
    "Susan",
    "Joseph",
    "Jessica",
    "Thomas",
    "Sarah",
    "Christopher",
    "Karen",
    "Charles",
    "Lisa",
    "Daniel",
    "Nancy",
    "Matthew",
    "Betty",
    "Anthony",
    "Sandra",
    "Mark",
    "Ashley",
    "Donald",
    "Kimberly",
    "Steven",
    "Emily",
    "Andrew",
    "Donna",
    "Paul",
    "Michelle",
    "Joshua",
    "Carol",
    "Kenneth",
    "Amanda",
    "Kevin",
    "Melissa",
    "Brian",
    "Deborah",
    "George",
    "Stephanie",
    "Timothy",
    "Rebecca",
    "Ronald",
    "Laura",
    "Jason",
    "Sharon",
    "Edward",
    "Cynthia",
    "Jeffrey",
    "Kathleen",
    "Ryan",
    "Amy",
    "Jacob",
    "Angela",
    "Gary",
    "Shirley",
];

pub const LAST_NAMES: [&str; 64] = [
    "Smith",
    "Johnson",
    "Williams",
    "Brown",
    "Jones",
    "Garcia",
    "Miller",
    "Davis",
    "Rodriguez",
    "Martinez",
    "Hernandez",
    "Lopez",
    "Gonzalez",
    "Wilson",
    "Anderson",
    "Thomas",
    "Taylor",
    "Moore",
    "Jackson",
    "Martin",
    "Lee",
    "Perez",
    "Thompson",
    "White",
    "Harris",
    "Sanchez",
    "Clark",
    "Ramirez",
    "Lewis",
    "Robinson",
    "Walker",
    "Young",
    "Allen",
    "King",
    "Wright",
    "Scott",
    "Torres",
    "Nguyen",
    "Hill",
    "Flores",
    "Green",
    "Adams",
    "Nelson",
    "Baker",
    "Hall",
    "Rivera",
    "Campbell",
    "Mitchell",
    "Carter",
    "Roberts",
    "Gomez",
    "Phillips",
    "Evans",
    "Turner",
    "Diaz",
    "Parker",
    "Cruz",
    "Edwards",
    "Collins",
    "Reyes",
    "Stewart",
    "Morris",
    "Morales",
    "Murphy",
];

pub const CONTACT_TITLES: [&str; 24] = [
    "Office Manager",
    "CEO",
    "CFO",
    "Controller",
    "Owner",
    "President",
    "Practice Manager",
    "Administrative Assistant",
    "Operations Manager",
    "IT Coordinator",
    "Receptionist",
    "Paralegal",
    "Accountant",
    "HR Manager",
    "Sales Manager",
    "Director of Operations",
    "Bookkeeper",
    "Staff Accountant",
    "Nurse Manager",
    "Project Manager",
    "Marketing Coordinator",
    "Warehouse Supervisor",
    "Attorney",
    "Partner",
];

pub const DEPARTMENTS: [&str; 8] = [
    "Accounting",
    "Front Desk",
    "Reception",
    "Warehouse",
    "Conference Room B",
    "Exam Room 3",
    "the main office",
    "Billing",
];
pub const APPS: [&str; 8] = [
    "Adobe Acrobat",
    "QuickBooks",
    "Zoom",
    "Google Chrome",
    "Microsoft Office",
    "AutoCAD",
    "Dentrix",
    "Sage 50",
];
pub const SERVICES: [&str; 4] =
    ["Print Spooler", "SQL Server", "Veeam Backup Service", "DHCP Server"];
pub const HOST_KINDS: [&str; 7] = ["DC", "FS", "SQL", "APP", "RDS", "WS", "NAS"];

/// (id, name)
pub const TIME_ZONES: [(i64, &str); 4] =
    [(1, "US Eastern"), (2, "US Central"), (3, "US Mountain"), (4, "US Pacific")];

// ---- finance/agreements

/// Agreement types: (id, name). The first is the managed-services agreement tickets and time
/// entries reference.
pub const AGREEMENT_TYPES: [(i64, &str); 5] = [
    (1, "Managed Services"),
    (2, "Block Time"),
    (3, "Break Fix"),
    (4, "Project"),
    (5, "Backup & DR"),
];
pub const AGREEMENT_MANAGED: u8 = 0;
/// `agreementStatus` values.
pub const AGREEMENT_STATUSES: [&str; 4] = ["Active", "Cancelled", "Expired", "Inactive"];
pub const AGREEMENT_ACTIVE: u8 = 0;
pub const AGREEMENT_CANCELLED: u8 = 1;
/// `billTime` values.
pub const BILL_TIME: [&str; 3] = ["Billable", "DoNotBill", "NoCharge"];

// ---- company/configurations

/// Configuration types: (id, name, name code, models, share).
pub const CONFIG_TYPES: [(i64, &str, &str, &[&str], f64); 8] = [
    (1, "Workstation", "WS", &["OptiPlex 7010", "ThinkCentre M70q", "EliteDesk 800 G9"], 0.34),
    (2, "Laptop", "LT", &["Latitude 5440", "ThinkPad T14", "EliteBook 840 G10"], 0.28),
    (3, "Server", "SRV", &["PowerEdge R750", "ProLiant DL380 Gen10"], 0.08),
    (4, "Firewall", "FW", &["FortiGate 60F", "SonicWall TZ470", "Meraki MX68"], 0.05),
    (5, "Switch", "SW", &["Aruba 2930F", "Meraki MS120", "UniFi USW-24"], 0.07),
    (6, "Printer", "PRN", &["HP LaserJet M507", "Brother HL-L6200", "Canon imageRUNNER"], 0.08),
    (7, "Wireless Access Point", "AP", &["Meraki MR36", "UniFi U6-Pro", "Aruba AP-515"], 0.07),
    (8, "NAS", "NAS", &["Synology DS920+", "QNAP TS-464"], 0.03),
];
/// Configuration statuses: (id, name, active).
pub const CONFIG_STATUSES: [(i64, &str, bool); 3] =
    [(1, "Active", true), (2, "Inactive", false), (3, "Retired", false)];

// ---- project/projects

/// Project statuses: (id, name, closed).
pub const PROJECT_STATUSES: [(i64, &str, bool); 5] = [
    (1, "Open", false),
    (2, "In Progress", false),
    (3, "On Hold", false),
    (4, "Completed", true),
    (5, "Closed", true),
];
pub const PROJECT_BILLING: [&str; 4] = ["FixedFee", "ActualRates", "NotToExceed", "OverrideRate"];
pub const PROJECT_NAMES: [&str; 12] = [
    "Microsoft 365 Migration",
    "Server Refresh",
    "Firewall Replacement",
    "Office Move",
    "Network Upgrade",
    "Backup Modernization",
    "Windows 11 Rollout",
    "Wi-Fi Redesign",
    "VoIP Deployment",
    "Security Hardening",
    "Azure AD Cleanup",
    "Onboarding",
];

// ---- sales/opportunities

/// Opportunity stages: (id, name, probability index).
pub const OPP_STAGES: [(i64, &str, u8); 5] = [
    (1, "1.Prospect", 0),
    (2, "2.Qualification", 1),
    (3, "3.Proposal", 2),
    (4, "4.Negotiation", 3),
    (5, "5.Verbal", 4),
];
/// Opportunity statuses: (id, name, closed).
pub const OPP_STATUSES: [(i64, &str, bool); 4] =
    [(1, "Open", false), (2, "Won", true), (3, "Lost", true), (4, "No Decision", true)];
pub const OPP_OPEN: u8 = 0;
pub const OPP_WON: u8 = 1;
/// Probabilities: (id, name).
pub const OPP_PROBABILITIES: [(i64, &str); 7] =
    [(1, "10%"), (2, "25%"), (3, "50%"), (4, "75%"), (5, "90%"), (6, "100%"), (7, "0%")];
pub const OPP_PROB_WON: u8 = 5;
pub const OPP_PROB_LOST: u8 = 6;
/// Ratings: (id, name).
pub const OPP_RATINGS: [(i64, &str); 3] = [(1, "Hot"), (2, "Warm"), (3, "Cold")];
/// Opportunity names and a typical deal size.
pub const OPP_NAMES: [(&str, f64); 10] = [
    ("Managed Services Agreement", 24_000.0),
    ("Firewall Upgrade", 6_500.0),
    ("Microsoft 365 Licensing", 9_000.0),
    ("Laptop Refresh", 18_000.0),
    ("Backup and DR Solution", 12_000.0),
    ("Security Awareness Training", 3_000.0),
    ("Server Replacement", 22_000.0),
    ("Wi-Fi Expansion", 7_500.0),
    ("VoIP Phone System", 11_000.0),
    ("Network Assessment", 2_500.0),
];

// ---- service/boards

/// Board locations: (id, name).
pub const BOARD_LOCATIONS: [(i64, &str); 2] = [(2, "Tampa Office"), (3, "Orlando Office")];
/// Board departments: (id, name).
pub const BOARD_DEPARTMENTS: [(i64, &str); 4] = [
    (10, "Service"),
    (11, "Network Operations"),
    (12, "Professional Services"),
    (13, "Field Services"),
];
/// A board's default department, by board index.
pub const BOARD_DEFAULT_DEPARTMENT: [u8; 5] = [0, 1, 2, 3, 1];
