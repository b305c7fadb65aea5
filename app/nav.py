"""The app's pages and which roles' navigation offers each (the data layer
checks every read and write anyway; a page missing from a role's navigation
is not reachable by URL either).

>>> pages_for("police_liaison")
['leads', 'ring_explorer', 'entity_360', 'evidence']
"""
from __future__ import annotations

__all__ = ["PAGES", "pages_for"]

#: url path -> (file, zh title, en title, Material icon, roles)
PAGES: dict[str, tuple[str, str, str, str, tuple[str, ...]]] = {
    "briefing": ("pages/briefing.py", "工作简报", "Briefing", ":material/dashboard:",
                 ("investigator", "analyst", "leader")),
    "leads": ("pages/leads.py", "线索队列", "Leads", ":material/list_alt:",
              ("investigator", "analyst", "leader", "police_liaison")),
    "ring_explorer": ("pages/ring_explorer.py", "团伙图谱", "Ring explorer", ":material/hub:",
                      ("investigator", "analyst", "leader", "police_liaison")),
    "entity_360": ("pages/entity_360.py", "实体画像", "Entity 360", ":material/person_search:",
                   ("investigator", "analyst", "leader", "police_liaison")),
    "rule_hits": ("pages/rule_hits.py", "规则命中", "Rule hits", ":material/rule:",
                  ("investigator", "analyst", "leader")),
    "early_warning": ("pages/early_warning.py", "动态预警", "Early warning", ":material/monitoring:",
                      ("investigator", "analyst", "leader")),
    "tipoffs": ("pages/tipoffs.py", "举报线索", "Tip-offs", ":material/campaign:", ("investigator", "analyst", "leader")),
    "inspections": ("pages/inspections.py", "双随机抽查", "Random inspections", ":material/shuffle:",
                    ("investigator", "analyst", "leader")),
    "faces": ("pages/faces.py", "人脸比对", "Faces", ":material/face:", ("investigator", "analyst")),
    "evidence": ("pages/evidence.py", "证据包", "Evidence package", ":material/inventory_2:",
                 ("investigator", "police_liaison")),
    "admin": ("pages/admin.py", "系统管理", "Administration", ":material/admin_panel_settings:", ("admin",)),
}


def pages_for(role: str) -> list[str]:
    """The url paths of the pages a role's navigation offers, the default first."""
    return [k for k, v in PAGES.items() if role in v[4]]
