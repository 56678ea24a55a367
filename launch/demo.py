"""The demo organisation: one site and one person per role, for trying the product out."""

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from config.settings import DEMO_PASSWORD
from db.models import Role, Site, User, UserRole
from domain.people import hash_password

DEMO_SITE_CODE = "cuihu"
DEMO_SITE_NAME = "翠湖花园管理处"


@dataclass(frozen=True)
class DemoPerson:
    username: str
    display_name: str
    roles: tuple[Role, ...]
    post: str


DEMO_PEOPLE = (
    DemoPerson("zhangmin", "张敏", (Role.STAFF,), "前台客服 front desk"),
    DemoPerson("wangqiang", "王强", (Role.STAFF,), "管家 housekeeper"),
    DemoPerson("lihua", "李华", (Role.SHIFT_LEAD,), "客服班长 shift lead"),
    DemoPerson("zhaolei", "赵磊", (Role.SUPERVISOR,), "客服主管 supervisor"),
    DemoPerson("chenjing", "陈静", (Role.SITE_MANAGER,), "管理处经理 site manager"),
    DemoPerson("sunli", "孙丽", (Role.HR,), "人事 HR"),
    DemoPerson("liugong", "刘工", (Role.ENGINEERING,), "工程维修 engineering"),
    DemoPerson("zhoupin", "周品", (Role.QUALITY,), "品质部 quality"),
    DemoPerson("admin", "系统管理员", (Role.OPS_ADMIN,), "运营管理员 ops admin"),
)


def seed_demo(session: Session, password: str = DEMO_PASSWORD) -> Site:
    """Create the demo site and people unless they exist; return the site."""
    site = session.scalar(select(Site).where(Site.code == DEMO_SITE_CODE))
    if site is None:
        site = Site(code=DEMO_SITE_CODE, name=DEMO_SITE_NAME, timezone="Asia/Shanghai")
        session.add(site)
        session.flush()
    password_hash = hash_password(password)
    for person in DEMO_PEOPLE:
        if session.scalar(select(User.id).where(User.username == person.username)):
            continue
        user = User(
            username=person.username,
            display_name=person.display_name,
            password_hash=password_hash,
            site_id=site.id,
            email=f"{person.username}@demo.kefu.local",
        )
        user.roles = [UserRole(role=role) for role in person.roles]
        session.add(user)
    session.flush()
    return site
