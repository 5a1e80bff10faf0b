"""The deeds of ``sovang demo``: a small template grammar of plausible Vietnamese deeds (floods and
fires, lost property returned, help on the roads, thieves caught, community work in the villages of
the ethnic minorities of Đắk Nông…), drawn with a seeded ``random.Random`` so that a seed always
tells the same stories. Names of people and villages are made up; places are the province's own.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

VILLAGES = ("bon Bu Prăng", "bon Sa Pa", "bon Ja Ráh", "bon Phi Mur", "bon Đắk R'Moan", "bon Bu Đăk", "bon Ol Bu Tung",
            "bon Yok Đhăm", "bon Broih", "bon Bu N'Đơr", "thôn Tân Lập", "thôn 3", "thôn Thuận Hạnh", "thôn Đắk Hoa")
ETHNIC = ("M'Nông", "Ê Đê", "Mạ", "Tày", "Nùng", "H'Mông", "Dao")
RIVERS = ("sông Sêrêpốk", "sông Krông Nô", "sông Đồng Nai", "suối Đắk Nông", "suối Đắk Rung", "suối Đắk Mâm",
          "suối Đắk R'Tíh", "suối Đắk Buk So")
ROADS = ("quốc lộ 14", "quốc lộ 28", "quốc lộ 14C", "tỉnh lộ 4", "tỉnh lộ 6", "đường Hồ Chí Minh", "đèo Đắk Glong")
CROPS = ("cà phê", "hồ tiêu", "sầu riêng", "mắc ca", "điều", "bơ")
PEOPLE = ("ông Y Bhin", "bà H'Nga", "cụ Điểu K'Lơi", "chị Thị Sen", "anh Y Thông", "em H'Mai", "bà Nguyễn Thị Lan",
          "ông Trần Văn Phúc", "chị H'Blin", "cụ Điểu Dơng", "anh Lê Văn Tú", "cháu Y Khoa")
ITEMS = ("chiếc ví có {money} cùng giấy tờ tùy thân", "điện thoại di động đắt tiền", "túi xách có {money}",
         "xe máy bị đánh rơi chìa khóa", "sổ đỏ và giấy tờ nhà đất", "bao tiền bán {crop} ({money})")
MONEY = ("3 triệu đồng", "5 triệu đồng", "8,5 triệu đồng", "12 triệu đồng", "20 triệu đồng", "47 triệu đồng")
WHEN = ("trong đêm mưa lớn", "lúc rạng sáng", "giữa trưa nắng gắt", "khi đang đi tuần tra", "trên đường đi làm về",
        "trong ca trực đêm", "chiều muộn")

KINDS = ("good_deed", "achievement", "feat", "exemplar")


@dataclass(frozen=True)
class Template:
    topic: str
    kind: str
    relation: str
    title: str
    description: str
    place: str
    beneficiaries: str | None = None


T = Template
TEMPLATES = (
    # floods and storms
    T("flood", "good_deed", "direct", "Giúp người dân {village} di dời tài sản khỏi vùng ngập lụt",
      "{When}, nước {river} dâng cao gây ngập nhiều nhà ở {village}, {commune}. Đồng chí đã cùng tổ công tác lội nước "
      "giúp {count} hộ dân chuyển người già, trẻ nhỏ và tài sản đến nơi an toàn, rồi ở lại trực đến khi nước rút.",
      "{village}, {commune}", "{count} hộ dân {village}"),
    T("flood", "feat", "direct", "Cứu {person} bị lũ cuốn trên {river}",
      "{When}, {person} bị dòng nước lũ cuốn trôi khi qua {river}. Không ngại nguy hiểm, đồng chí đã nhảy xuống dòng "
      "nước xiết, bơi theo và đưa nạn nhân vào bờ, sơ cứu rồi đưa đến trạm y tế {commune}.",
      "{river}, {commune}", "{person}"),
    T("flood", "good_deed", "direct", "Khắc phục sạt lở, thông tuyến {road} sau mưa lớn",
      "Mưa lớn kéo dài gây sạt lở taluy trên {road}, đất đá tràn xuống mặt đường. Đồng chí đã cùng lực lượng "
      "phân luồng, dọn đất đá suốt {hours} giờ, bảo đảm an toàn cho người và phương tiện qua lại.",
      "{road}", None),
    # fires
    T("fire", "feat", "direct", "Dập tắt đám cháy nhà dân ở {village}",
      "{When}, một căn nhà gỗ ở {village}, {commune} bốc cháy. Đồng chí đã kịp thời có mặt, dùng bình chữa cháy và "
      "vòi nước khống chế ngọn lửa, cứu {person} cùng tài sản ra ngoài an toàn trước khi lực lượng chữa cháy đến.",
      "{village}, {commune}", "Gia đình {person}"),
    T("fire", "good_deed", "direct", "Cứu rẫy {crop} của bà con khỏi cháy lan",
      "Đám cháy thực bì lan nhanh về phía rẫy {crop} của đồng bào {ethnic} ở {village}. Đồng chí cùng người dân "
      "phát đường băng cản lửa, dập tắt đám cháy, giữ được gần {area} ha {crop}.",
      "{village}, {commune}", "Các hộ trồng {crop} ở {village}"),
    T("fire", "achievement", "indirect", "Hướng dẫn phòng cháy, chữa cháy cho {count} hộ kinh doanh",
      "Đồng chí đã đến từng hộ kinh doanh ở trung tâm {commune} hướng dẫn lắp bình chữa cháy, kiểm tra điện, "
      "lập phương án thoát nạn; tổ chức diễn tập chữa cháy tại chỗ cho {count} hộ.",
      "{commune}", None),
    # lost property
    T("lost", "good_deed", "direct", "Trả lại {item_short} cho người đánh rơi",
      "Trong lúc làm nhiệm vụ, đồng chí nhặt được {item} trên {road}. Đồng chí đã xác minh, liên lạc và trao trả "
      "đầy đủ cho {person} ngay trong ngày.",
      "{road}, {commune}", "{person}"),
    T("lost", "exemplar", "direct", "Nhặt được {money} và tìm trả người mất",
      "Đồng chí nhặt được túi nilon đựng {money} tiền bán {crop} ở chợ {commune}. Đồng chí đã nhờ đài truyền thanh "
      "xã thông báo, tìm được và trả lại cho {person} – người vừa bán xong vụ {crop}.",
      "chợ {commune}", "{person}"),
    # traffic help
    T("traffic", "good_deed", "direct", "Sơ cứu, đưa người bị tai nạn giao thông trên {road} đi cấp cứu",
      "{When}, một vụ va chạm giữa xe máy và ô tô xảy ra trên {road}. Đồng chí đã sơ cứu, cầm máu cho nạn nhân, "
      "gọi xe đưa đi bệnh viện, đồng thời bảo vệ hiện trường và trông giữ tài sản cho người bị nạn.",
      "{road}", "{person}"),
    T("traffic", "good_deed", "direct", "Giúp xe chở {crop} bị sa lầy trên đường vào {village}",
      "Đường đất vào {village} lầy lội sau mưa, một xe tải chở {crop} của bà con bị sa lầy. Đồng chí đã huy động "
      "người dân chặt cây, kê bánh, đẩy xe ra khỏi vũng lầy để kịp đưa nông sản đi bán.",
      "{village}, {commune}", None),
    T("traffic", "good_deed", "direct", "Đưa học sinh qua đường an toàn giờ tan trường",
      "Suốt năm học, vào giờ tan trường, đồng chí đứng phân luồng trước cổng trường trên {road}, dắt các em học "
      "sinh nhỏ và người già qua đường an toàn.",
      "{road}, {commune}", None),
    T("traffic", "achievement", "indirect", "Xử lý điểm đen tai nạn giao thông trên {road}",
      "Đồng chí đã khảo sát, đề xuất cắm biển cảnh báo, lắp gương cầu lồi và phát quang tầm nhìn tại khúc cua "
      "nguy hiểm trên {road}; từ đó đến nay không còn xảy ra tai nạn tại điểm này.",
      "{road}", None),
    # thieves and crime
    T("crime", "feat", "direct", "Bắt quả tang đối tượng trộm cắp xe máy",
      "{When}, phát hiện đối tượng có biểu hiện nghi vấn đang bẻ khóa xe máy ở {village}, đồng chí đã truy đuổi, "
      "khống chế, bắt quả tang và thu hồi tài sản trả lại cho {person}.",
      "{village}, {commune}", "{person}"),
    T("crime", "feat", "direct", "Truy bắt đối tượng cướp giật tài sản trên {road}",
      "Nhận tin báo một phụ nữ bị giật túi xách trên {road}, đồng chí đã nhanh chóng truy đuổi, bắt giữ đối tượng "
      "và trao trả {item} cho bị hại.",
      "{road}", "{person}"),
    T("crime", "achievement", "direct", "Triệt phá ổ nhóm trộm cắp {crop} ở {commune}",
      "Sau nhiều đêm phục kích tại các rẫy {crop}, đồng chí cùng tổ công tác đã bắt giữ {count} đối tượng chuyên "
      "trộm {crop} của bà con, thu hồi hơn {tons} tấn nông sản trả lại cho người dân.",
      "{commune}", "Các hộ trồng {crop} ở {commune}"),
    T("crime", "achievement", "indirect", "Vận động người dân giao nộp vũ khí, vật liệu nổ",
      "Đồng chí đã đến từng nhà ở {village} tuyên truyền, vận động bà con đồng bào {ethnic} tự nguyện giao nộp "
      "{count} khẩu súng tự chế và nhiều vật liệu nổ, góp phần giữ bình yên thôn buôn.",
      "{village}, {commune}", None),
    T("drugs", "feat", "direct", "Bắt giữ đối tượng tàng trữ trái phép chất ma túy",
      "Qua theo dõi, đồng chí cùng tổ công tác đã bắt quả tang đối tượng đang tàng trữ trái phép chất ma túy tại "
      "{village}, thu giữ tang vật, góp phần làm trong sạch địa bàn.",
      "{village}, {commune}", None),
    T("drugs", "good_deed", "indirect", "Giúp người nghiện ở {village} cai nghiện, hoàn lương",
      "Đồng chí đã nhiều lần đến gia đình, động viên {person} tự nguyện cai nghiện, rồi giới thiệu việc làm "
      "chăm sóc vườn {crop}; đến nay người đó đã ổn định cuộc sống.",
      "{village}, {commune}", "{person}"),
    # community work in ethnic-minority villages
    T("village", "good_deed", "direct", "Dựng lại nhà cho hộ nghèo người {ethnic} ở {village}",
      "Căn nhà của {person}, hộ nghèo người {ethnic} ở {village}, bị dột nát sau mùa mưa. Đồng chí đã vận động "
      "đồng đội góp tiền, ngày công, cùng bà con dựng lại căn nhà mới trong {count} ngày.",
      "{village}, {commune}", "Gia đình {person}"),
    T("village", "good_deed", "direct", "Làm cầu tạm qua suối cho bà con {village}",
      "Mùa mưa, con suối chia cắt {village} với trung tâm {commune}, học sinh phải nghỉ học. Đồng chí đã cùng "
      "đoàn viên và người dân làm cây cầu tạm bằng gỗ dài {length} mét để bà con, các em đi lại an toàn.",
      "{village}, {commune}", "Bà con {village}"),
    T("village", "exemplar", "direct", "Dạy chữ cho trẻ em đồng bào {ethnic} ở {village}",
      "Nhiều năm nay, ngoài giờ công tác, đồng chí mở lớp dạy chữ miễn phí vào buổi tối cho trẻ em đồng bào "
      "{ethnic} ở {village}; đã có {count} em biết đọc, biết viết và được đến trường.",
      "{village}, {commune}", None),
    T("village", "good_deed", "direct", "Làm căn cước tại nhà cho người già, người ốm ở {village}",
      "Đồng chí đã mang máy đến tận nhà để thu nhận hồ sơ căn cước cho {count} cụ già và người ốm nặng ở "
      "{village} không thể đến trụ sở, hướng dẫn bà con đồng bào {ethnic} kích hoạt định danh điện tử.",
      "{village}, {commune}", None),
    T("village", "exemplar", "direct", "Nhận đỡ đầu {person}, em nhỏ mồ côi người {ethnic}",
      "Biết hoàn cảnh {person} mồ côi cả cha lẫn mẹ, đồng chí đã nhận đỡ đầu, hằng tháng trích lương hỗ trợ "
      "tiền học, sách vở và thường xuyên đến thăm, động viên em vượt khó.",
      "{village}, {commune}", "{person}"),
    T("village", "good_deed", "direct", "Khoan giếng nước sạch cho bà con {village}",
      "Mùa khô, {village} thiếu nước sinh hoạt. Đồng chí đã vận động các nhà hảo tâm cùng đơn vị khoan {count} "
      "giếng nước sạch, lắp bồn chứa cho bà con đồng bào {ethnic}.",
      "{village}, {commune}", None),
    T("village", "good_deed", "direct", "Giúp bà con {village} thu hoạch {crop} đúng vụ",
      "Thấy {person} neo đơn, ốm đau không thể thu hoạch {crop}, đồng chí cùng đồng đội dành ngày nghỉ "
      "giúp hái, phơi và bán {crop} kịp vụ, tránh thất thoát.",
      "{village}, {commune}", "{person}"),
    T("village", "exemplar", "direct", "Hiến máu tình nguyện lần thứ {nth}",
      "Đồng chí là gương mặt quen thuộc của phong trào hiến máu ở {district}: đã {nth} lần hiến máu tình nguyện, "
      "nhiều lần hiến máu khẩn cấp cứu người bệnh tại bệnh viện đa khoa tỉnh.",
      "{district}", None),
    T("village", "achievement", "indirect", "Xây dựng mô hình \u201cbon an toàn, bình yên\u201d ở {village}",
      "Đồng chí đã tham mưu và cùng già làng, người có uy tín ở {village} xây dựng mô hình tự quản về an ninh "
      "trật tự; {count} tháng liền thôn buôn không có vụ trộm cắp, đánh nhau.",
      "{village}, {commune}", None),
)
TOPICS_BY_UNIT = {
    "P-CSGT": ("traffic", "traffic", "flood"),
    "P-PCCC": ("fire", "fire", "flood"),
    "P-CSHS": ("crime", "crime", "lost"),
    "P-MT": ("drugs", "drugs", "village"),
    "P-QLHC": ("village", "lost", "crime"),
    "P-XDPT": ("village", "village", "crime"),
    "P-TM": ("village", "traffic", "lost"),
}


@dataclass(frozen=True)
class DeedText:
    kind: str
    relation: str
    title: str
    description: str
    place: str
    beneficiaries: str | None
    topic: str


def _fill(rng: random.Random, text: str, slots: dict[str, str]) -> str:
    for key, value in slots.items():
        text = text.replace("{" + key + "}", value)
    return text


def locality(subunit_name: str | None, unit_name: str) -> str:
    """Where a sub-unit works: ``Công an xã Đắk Lao`` → ``xã Đắk Lao``; teams work in their district."""
    for prefix in ("Công an xã ", "Công an phường ", "Công an thị trấn "):
        if subunit_name and subunit_name.startswith(prefix):
            return subunit_name.removeprefix("Công an ")
    return unit_name.removeprefix("Công an ") if unit_name.startswith("Công an ") else "thành phố Gia Nghĩa"


def deed_text(rng: random.Random, unit: str, subunit_name: str | None, unit_name: str) -> DeedText:
    """One deed's text, drawn from the grammar: the topic leans on what the unit does."""
    topics = TOPICS_BY_UNIT.get(unit)
    if topics and rng.random() < 0.75:
        topic = rng.choice(topics)
        template = rng.choice([t for t in TEMPLATES if t.topic == topic])
    else:
        template = rng.choice(TEMPLATES)
    crop = rng.choice(CROPS)
    money = rng.choice(MONEY)
    item = _fill(rng, rng.choice(ITEMS), {"money": money, "crop": crop})
    when = rng.choice(WHEN)
    slots = {
        "village": rng.choice(VILLAGES),
        "ethnic": rng.choice(ETHNIC),
        "river": rng.choice(RIVERS),
        "road": rng.choice(ROADS),
        "crop": crop,
        "money": money,
        "item": item,
        "item_short": item.split(" có ")[0].split(" (")[0],
        "person": rng.choice(PEOPLE),
        "commune": locality(subunit_name, unit_name),
        "district": unit_name.removeprefix("Công an "),
        "When": when[0].upper() + when[1:],
        "count": str(rng.randint(3, 28)),
        "hours": str(rng.randint(4, 14)),
        "area": str(rng.randint(2, 9)),
        "tons": str(rng.randint(1, 6)),
        "length": str(rng.randint(8, 25)),
        "nth": str(rng.randint(5, 32)),
    }
    beneficiaries = _fill(rng, template.beneficiaries, slots) if template.beneficiaries else None
    return DeedText(
        kind=template.kind,
        relation=template.relation,
        title=_fill(rng, template.title, slots)[:200],
        description=_fill(rng, template.description, slots),
        place=_fill(rng, template.place, slots),
        beneficiaries=beneficiaries,
        topic=template.topic,
    )
